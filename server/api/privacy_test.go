package api_test

import (
	"context"
	"testing"
	"time"

	"encoding/json"

	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

func TestRetentionAdminAPI(t *testing.T) {
	e := newEnv(t)
	w := e.enrolPhone("w_a")
	enc := w.newEncounter("team_a", "old contact")
	w.syncAll()
	// Three years and a bit later the encounter is due.
	e.now = e.now.Add(3*365*24*time.Hour + 48*time.Hour)
	admin, sup := basic("admin@example.org"), basic("sup@example.org")
	e.run(t, []scenario{
		{name: "supervisor may not read the schedule", method: "GET", url: "/v1/admin/retention", headers: sup, wantStatus: 403, wantCode: "forbidden"},
		{name: "no credentials", method: "GET", url: "/v1/admin/retention", wantStatus: 401, wantCode: "unauthorized"},
		{name: "schedule and preview", method: "GET", url: "/v1/admin/retention", headers: admin, wantStatus: 200,
			wantContains: []string{`"type":"encounter","keep_days":1095,"basis":"last_contact"`, `"record_id":"` + string(enc) + `"`}},
		{name: "too short", method: "PUT", url: "/v1/admin/retention/rules/referral", headers: admin, body: []byte(`{"keep_days":3}`), wantStatus: 422, wantCode: "invalid"},
		{name: "unknown type", method: "PUT", url: "/v1/admin/retention/rules/young_person", headers: admin, body: []byte(`{"keep_days":365}`), wantStatus: 422, wantCode: "invalid"},
		{name: "malformed", method: "PUT", url: "/v1/admin/retention/rules/referral", headers: admin, body: []byte(`{"keep_days":`), wantStatus: 400, wantCode: "malformed"},
		{name: "set referral", method: "PUT", url: "/v1/admin/retention/rules/referral", headers: admin, body: []byte(`{"keep_days":400}`), wantStatus: 200,
			wantContains: []string{`"keep_days":400`, `"basis":"closure"`}},
		{name: "hold unknown record", method: "POST", url: "/v1/admin/legal-holds", headers: admin, body: []byte(`{"record_id":"nope","reason":"court order"}`), wantStatus: 404, wantCode: "not_found"},
		{name: "hold needs a reason", method: "POST", url: "/v1/admin/legal-holds", headers: admin, body: []byte(`{"record_id":"` + string(enc) + `"}`), wantStatus: 422, wantCode: "invalid"},
		{name: "hold", method: "POST", url: "/v1/admin/legal-holds", headers: admin, body: []byte(`{"record_id":"` + string(enc) + `","reason":"court order 12"}`), wantStatus: 201},
		{name: "run keeps the held record", method: "POST", url: "/v1/admin/retention/run", headers: admin, wantStatus: 200, wantContains: []string{`"removed":[]`, `"held":1`}},
		{name: "lift", method: "DELETE", url: "/v1/admin/legal-holds/" + string(enc), headers: admin, wantStatus: 200},
		{name: "run removes it", method: "POST", url: "/v1/admin/retention/run", headers: admin, wantStatus: 200, wantContains: []string{`"removed":["` + string(enc) + `"]`}},
		{name: "audit chain", method: "GET", url: "/v1/admin/audit/verify", headers: admin, wantStatus: 200, wantContains: []string{`"ok":true`}},
		{name: "the phone is told to purge", method: "GET", url: "/v1/admin/erasures/notices?record=" + string(enc), headers: sup, wantStatus: 200,
			wantContains: []string{`"record_id":"` + string(enc) + `"`}},
	})
	rec, err := e.db.RecordState(context.Background(), string(enc))
	must(t, err)
	if rec.Erased == nil {
		t.Fatal("retention did not erase the encounter")
	}
	// The phone learns of it in its next sync (erase list), confirms, and
	// the notice is then confirmed.
	r := w.sync(0)
	if len(r.Erase) != 1 || r.Erase[0] != string(enc) {
		t.Fatalf("sync erase list = %v", r.Erase)
	}
	// A hostile phone confirms a purge it was never asked for (another
	// phone's, a made-up id): nothing changes for anyone else.
	other := e.enrolPhone("w_a2")
	other.syncAll()
	forged, _ := json.Marshal(protocol.Request{Cursor: other.cursor, Purged: []string{string(enc), "made-up"}})
	if r := e.do("POST", "/v1/sync", other.auth(), forged); r.status != 200 {
		t.Fatalf("forged confirmation: %d %s", r.status, r.body)
	}
	notices, err := e.db.PurgeNotices(context.Background(), []string{string(enc)})
	must(t, err)
	for _, n := range notices {
		if !n.ConfirmedAt.IsZero() {
			t.Fatalf("notice confirmed by someone else's request: %+v", n)
		}
	}
	// The phone's own confirmation.
	confirm, _ := json.Marshal(protocol.Request{Cursor: w.cursor, Purged: []string{string(enc)}})
	r = syncReply{}
	if raw := e.do("POST", "/v1/sync", w.auth(), confirm); raw.status != 200 {
		t.Fatalf("confirm: %d %s", raw.status, raw.body)
	} else {
		raw.json(t, &r.Response)
	}
	if len(r.Erase) != 0 {
		t.Fatalf("still asked to purge after confirming: %v", r.Erase)
	}
	notices, err = e.db.PurgeNotices(context.Background(), []string{string(enc)})
	must(t, err)
	confirmed := 0
	for _, n := range notices {
		if !n.ConfirmedAt.IsZero() {
			confirmed++
		}
	}
	if confirmed != 1 {
		t.Fatalf("confirmed notices = %d: %+v", confirmed, notices)
	}
}

// A hostile phone sends a redaction placeholder for a record nobody erased:
// applied, it would erase the record (and the ledger would make that
// permanent). It is quarantined and the record is untouched.
func TestForgedRedactionCannotEraseARecord(t *testing.T) {
	e := newEnv(t)
	w := e.enrolPhone("w_a")
	enc := w.newEncounter("team_a", "keep me")
	w.syncAll()
	cs := w.edit(func(tx *syncengine.Txn) error { return tx.Set(enc, "area", "the pier") })
	forged, _ := syncengine.RedactChangeset(cs, func(syncengine.RecordID) bool { return true })
	w.outbox = []*syncengine.Changeset{forged}
	r := w.sync(0)
	if r.status != 200 || len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQuarantined || r.Results[0].Code != "forbidden" {
		t.Fatalf("forged redaction: %d %+v", r.status, r.Results)
	}
	rec, err := e.db.RecordState(context.Background(), string(enc))
	must(t, err)
	if rec.Erased != nil || rec.String("note") != "keep me" {
		t.Fatalf("record after a forged redaction: erased=%v note=%q", rec.Erased, rec.String("note"))
	}
}
