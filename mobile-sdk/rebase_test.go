package mobilesdk

import (
	"testing"

	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// The server sends a record marked Rebase after it placed a late text edit
// its own way (it had compacted the text): the phone takes the server's
// state even though its own copy covers it, since its copy may show the
// edit elsewhere. An unmarked snapshot its copy covers is ignored, as
// before.
func TestRebaseSnapshotReplacesACoveringCopy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rebase bool
		want   string
	}{
		{"marked rebase", true, "Met at the ramp."},
		{"plain snapshot", false, "Met at the ramp. Talked."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := MustOpen(t, t.TempDir(), nil)
			enrolLocal(t, c, 1, "w1", "team1")
			id := mustS(t)(c.CreateEncounter(`{"area":"Docks","note":"Met at the ramp."}`))
			server, err := c.st.Record(syncengine.RecordID(id))
			must(t, err)
			// The server's state, as it placed things: what the phone had,
			// encoded and decoded as it travels.
			server, err = syncengine.DecodeRecord(syncengine.EncodeRecord(server))
			must(t, err)
			must(t, c.InsertText(id, "note", 16, " Talked."))
			batch, err := c.st.Outbox(0)
			must(t, err)
			self, err := c.st.Meta("replica_id")
			must(t, err)
			hdr := &protocol.Response{Cursor: "c1"}
			for _, e := range batch {
				hdr.Results = append(hdr.Results, protocol.PushResult{Replica: self, Start: e.Start, Status: protocol.StatusAccepted})
			}
			if tc.rebase {
				hdr.Rebase = []string{id}
			}
			if _, _, err := c.storePage(c.st, batch, hdr, nil, [][]byte{syncengine.EncodeRecord(server)}, &syncSummary{}, nil, false); err != nil {
				t.Fatal(err)
			}
			if got := str(t, view(t, c, id), "note"); got != tc.want {
				t.Fatalf("note %q, want %q", got, tc.want)
			}
		})
	}
}
