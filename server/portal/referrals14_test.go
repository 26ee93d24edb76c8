package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/notify"
	"github.com/joinedup/joinedup/syncengine"
)

// Who accepted and when is on every view of a referral; the service sees
// who referred and how to reach the team.
func TestReferralDecisionAndReferrerOnEveryView(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	pr, sup := env.signIn("practitioner", 1), env.signIn("supervisor", 1)
	ref, _ := env.db.RecordState(context.Background(), w.submitted)
	referrerName := personByID(t, ref.Author("submitted_at")).Name
	supName := personByID(t, w.supervisor).Name

	_, page := pr.get("/portal/service/referrals/" + w.submitted)
	who := section(page, "h-referrer")
	if !strings.Contains(who, referrerName) || !strings.Contains(who, "Team contact:") || !strings.Contains(who, supName) {
		t.Fatalf("the service does not see who referred (%s) and the team contact (%s):\n%s", referrerName, supName, who)
	}
	if st, body := pr.post("/portal/service/referrals/"+w.submitted+"/accept", nil); st != 303 {
		t.Fatalf("accept: %d %s", st, trunc(body))
	}
	accepted := "by " + personByID(t, w.practitioner).Name
	for _, v := range []struct {
		who  *client
		path string
	}{
		{sup, "/portal/referrals/" + w.submitted},
		{sup, "/portal/referrals?status=accepted"},
		{pr, "/portal/service/referrals/" + w.submitted},
		{pr, "/portal/service"},
	} {
		if _, body := v.who.get(v.path); !strings.Contains(body, accepted) {
			t.Errorf("%s does not say who accepted (%q)", v.path, accepted)
		}
	}
}

// A waiting list is ordered by urgency, then by how long each has waited:
// an urgent referral submitted an hour ago is above two routine ones from
// days ago.
func TestWaitingListsPutUrgentFirst(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	mk := func(urgency string, age time.Duration) string {
		var id syncengine.RecordID
		_, err := env.db.ServerEdit(context.Background(), w.worker, func(tx *syncengine.Txn) (err error) {
			if id, err = tx.Create(syncengine.TypeReferral); err != nil {
				return err
			}
			for _, kv := range [][2]any{{"team_id", w.team}, {"young_person_id", w.yp}, {"service_id", w.service}, {"urgency", urgency},
				{"consent", "given"}, {"submitted_at", testNow.Add(-age)}, {"status", "submitted"}} {
				if err := tx.Set(id, kv[0].(string), kv[1]); err != nil {
					return err
				}
			}
			return tx.InsertText(id, "reason", 0, "Needs somewhere to stay")
		})
		if err != nil {
			t.Fatal(err)
		}
		return string(id)
	}
	old := mk("routine", 30*24*time.Hour)
	older := mk("routine", 40*24*time.Hour)
	urgent := mk("urgent", time.Hour)
	sup := env.signIn("supervisor", 1)
	for _, path := range []string{"/portal/referrals?status=submitted&service=" + w.service, "/portal/dashboard"} {
		_, body := sup.get(path)
		iu, io, iold := strings.Index(body, urgent), strings.Index(body, older), strings.Index(body, old)
		if iu < 0 || (io >= 0 && iu > io) || (iold >= 0 && iu > iold) {
			t.Errorf("%s: urgent at %d, routine ones at %d and %d", path, iu, io, iold)
		}
		if io >= 0 && iold >= 0 && io > iold {
			t.Errorf("%s: the longer-waiting routine referral is below the newer one", path)
		}
	}
}

// A supervisor chases a waiting referral (a reminder reaches the service's
// practitioners through the outbox) and withdraws one only with a reason
// and a confirmation.
func TestChaseAndWithdraw(t *testing.T) {
	env := newTestEnv(t)
	env.db.Rules = notify.New(notify.DefaultConfig())
	w := findWorld(t, env)
	sup, other, pr := env.signIn("supervisor", 1), env.signIn("supervisor", 2), env.signIn("practitioner", 1)
	base := "/portal/referrals/" + w.submitted
	chases := func() int {
		var n int
		if err := env.db.SQL().QueryRow(`SELECT count(*) FROM push_outbox WHERE record_id = ? AND kind = 'referral_chase'`, w.submitted).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	steps := []struct {
		name string
		who  *client
		path string
		form url.Values
		want int
	}{
		{"another team chases", other, base + "/chase", nil, http.StatusNotFound},
		{"a practitioner chases", pr, base + "/chase", nil, http.StatusForbidden},
		{"the team's supervisor chases", sup, base + "/chase", nil, http.StatusSeeOther},
		{"chased again at once", sup, base + "/chase", nil, http.StatusConflict},
		{"withdraw without a reason", sup, base + "/withdraw", url.Values{"confirm": {"yes"}}, http.StatusUnprocessableEntity},
		{"withdraw unconfirmed", sup, base + "/withdraw", url.Values{"reason": {"Family moved away"}}, http.StatusUnprocessableEntity},
		{"another team withdraws", other, base + "/withdraw", url.Values{"reason": {"x"}, "confirm": {"yes"}}, http.StatusNotFound},
		{"withdraw", sup, base + "/withdraw", url.Values{"reason": {"Family moved away"}, "confirm": {"yes"}}, http.StatusSeeOther},
		{"chase a withdrawn one", sup, base + "/chase", nil, http.StatusConflict},
	}
	for _, s := range steps {
		if st, body := s.who.post(s.path, s.form); st != s.want {
			t.Fatalf("%s: %d, want %d\n%s", s.name, st, s.want, trunc(body))
		}
		if s.name == "the team's supervisor chases" && chases() == 0 {
			t.Fatal("chasing put no reminder in the outbox")
		}
	}
	r, _ := env.db.RecordState(context.Background(), w.submitted)
	if str(r, "status") != "withdrawn" || str(r, "withdraw_reason") != "Family moved away" {
		t.Fatalf("status %q, reason %q", str(r, "status"), str(r, "withdraw_reason"))
	}
	if _, body := sup.get(base); !strings.Contains(body, "withdrawn by "+personByID(t, w.supervisor).Name) {
		t.Error("the referral does not say who withdrew it")
	}
}
