package mobilesdk

import (
	"strconv"
	"testing"

	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// A refused save is taken for released only when the records the server
// sends hold it and the server has not listed it as not applied
// (protocol.Response.KeptAside): a later save of the phone's own to the
// same record makes the record's version cover the refused one either way.
func TestRefusedSaveReleasedOnlyWhenTheServerAppliedIt(t *testing.T) {
	for _, tc := range []struct {
		name     string
		asked    bool
		kept     bool // the server lists it as not applied
		released bool
	}{
		{"listed as not applied", true, true, false},
		{"not listed: released", true, false, true},
		{"not asked: the last answer stands", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := MustOpen(t, t.TempDir(), nil)
			enrolLocal(t, c, 1, "w1", "team1")
			self, err := c.st.Meta("replica_id")
			must(t, err)
			id := mustS(t)(c.CreateEncounter(`{"area":"Docks","note":"Met at the ramp."}`))
			answer := func(status string) {
				t.Helper()
				batch, err := c.st.Outbox(0)
				must(t, err)
				hdr := &protocol.Response{Cursor: "c1"}
				for _, e := range batch {
					hdr.Results = append(hdr.Results, protocol.PushResult{Replica: self, Start: e.Start, Status: status, Code: "forbidden", Message: "no"})
				}
				_, _, err = c.storePage(c.st, batch, hdr, nil, nil, &syncSummary{}, nil, false)
				must(t, err)
			}
			answer(protocol.StatusAccepted)
			must(t, c.Update(id, `{"area":"Moved"}`))
			pending, err := c.st.Outbox(0)
			must(t, err)
			refusedAt := pending[0].Start
			answer(protocol.StatusQuarantined)
			must(t, c.InsertText(id, "note", 0, "Later: "))
			// The server's record as it would hold it after a release: the
			// refused change and the later save (the phone's copy, before
			// the refusal sends it back to the server's state).
			server, err := c.st.Record(syncengine.RecordID(id))
			must(t, err)
			answer(protocol.StatusAccepted)
			rid, err := syncengine.ParseReplicaID(self)
			must(t, err)
			if server.VV.Get(rid) < refusedAt {
				t.Fatal("the record's version does not cover the refused save: the test tests nothing")
			}
			if !tc.asked {
				// An earlier answer listed it; this one did not ask.
				must(t, setMeta(sq(c).db, "kept_aside", "9999,"+strconv.FormatUint(refusedAt, 10)))
			}
			hdr := &protocol.Response{Cursor: "c2"}
			if tc.kept && tc.asked {
				hdr.KeptAside = []protocol.SaveKey{{Replica: self, Start: refusedAt}, {Replica: "another-phone", Start: 1}}
			}
			if _, _, err := c.storePage(c.st, nil, hdr, nil, [][]byte{syncengine.EncodeRecord(server)}, &syncSummary{}, nil, tc.asked); err != nil {
				t.Fatal(err)
			}
			if got := len(status(t, c).Quarantined); got != map[bool]int{true: 0, false: 1}[tc.released] {
				t.Fatalf("%d refused saves shown, want released %v", got, tc.released)
			}
		})
	}
}
