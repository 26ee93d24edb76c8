package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// TestDestructiveActionsNeedReasonAndConfirmation forges the posts of every
// destructive action (revoke and wipe a phone, erase a young person,
// withdraw a referral) without their reason or confirmation, as a client
// that skips the browser's required fields would: each is refused with a
// clear message and changes nothing, and the complete form goes through.
func TestDestructiveActionsNeedReasonAndConfirmation(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	ctx := context.Background()
	device := env.syncDevice(w.worker, w.supervisor)
	sup := env.signIn("supervisor", 1)
	revoked := func() bool {
		d, err := env.db.Device(ctx, device)
		if err != nil {
			t.Fatal(err)
		}
		return d.Status != domain.DeviceActive
	}
	erased := func() bool {
		r, err := env.db.RecordState(ctx, w.yp)
		if err != nil {
			t.Fatal(err)
		}
		return r.Erased != nil
	}
	withdrawn := func() bool {
		r, err := env.db.RecordState(ctx, w.submitted)
		if err != nil {
			t.Fatal(err)
		}
		return str(r, "status") == "withdrawn"
	}
	revoke := "/portal/devices/" + device + "/revoke"
	erase := "/portal/young-people/" + w.yp + "/erase"
	withdraw := "/portal/referrals/" + w.submitted + "/withdraw"
	for _, tc := range []struct {
		name         string
		path         string
		form         url.Values
		done         func() bool
		wantStatus   int
		wantContains string
	}{
		{"revoke without a reason or confirmation", revoke, url.Values{}, revoked, http.StatusUnprocessableEntity, "Say why"},
		{"revoke with a blank reason", revoke, url.Values{"reason": {"   "}, "confirm": {device}}, revoked, http.StatusUnprocessableEntity, "Say why"},
		{"revoke without confirmation", revoke, url.Values{"reason": {"lost on the bus"}}, revoked, http.StatusUnprocessableEntity, "Tick the box"},
		{"revoke confirming another phone", revoke, url.Values{"reason": {"lost on the bus"}, "confirm": {"someone-else"}}, revoked, http.StatusUnprocessableEntity, "Tick the box"},
		{"erase without a reason", erase, url.Values{"confirm": {w.yp}}, erased, http.StatusUnprocessableEntity, "Give the reason"},
		{"erase without the typed id", erase, url.Values{"reason": {"asked for erasure by the young person"}}, erased, http.StatusUnprocessableEntity, "Type the record id"},
		{"withdraw without a reason", withdraw, url.Values{"confirm": {"yes"}}, withdrawn, http.StatusUnprocessableEntity, "Say why"},
		{"withdraw without confirmation", withdraw, url.Values{"reason": {"found a place elsewhere"}}, withdrawn, http.StatusUnprocessableEntity, "Tick the box"},
		{"revoke, complete", revoke, url.Values{"reason": {"lost on the bus"}, "confirm": {device}}, revoked, http.StatusSeeOther, ""},
		{"withdraw, complete", withdraw, url.Values{"reason": {"found a place elsewhere"}, "confirm": {"yes"}}, withdrawn, http.StatusSeeOther, ""},
		{"erase, complete", erase, url.Values{"reason": {"asked for erasure by the young person"}, "confirm": {w.yp}}, erased, http.StatusSeeOther, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := sup.post(tc.path, tc.form)
			if status != tc.wantStatus || !strings.Contains(body, tc.wantContains) {
				t.Fatalf("status %d, want %d with %q\n%s", status, tc.wantStatus, tc.wantContains, trunc(body))
			}
			if got, want := tc.done(), tc.wantStatus == http.StatusSeeOther; got != want {
				t.Fatalf("done = %v, want %v", got, want)
			}
		})
	}
}
