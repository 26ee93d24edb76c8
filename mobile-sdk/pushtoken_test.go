package mobilesdk

import (
	"fmt"
	"strings"
	"testing"
)

// TestPushTokenLifecycle: a phone's push token reaches the real server
// under its own device and platform, a rotated token replaces it, a
// refused one leaves it as it was, Logout forgets it on the server, and a
// revoked phone's registration is refused and wipes the phone.
func TestPushTokenLifecycle(t *testing.T) {
	s := startServer(t)
	sup, w := s.person(t, 0, "supervisor", 0), s.person(t, 0, "worker", 0)
	stored := func(device string) []string {
		t.Helper()
		rows, err := s.serverDB(t).Query(`SELECT token || '/' || platform FROM push_tokens WHERE device_id = ?`, device)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			rows.Scan(&v)
			out = append(out, v)
		}
		return out
	}
	device := func(c *Client) string { v, _ := c.st.Meta("device_id"); return v }

	c := s.enrolPhone(t, sup, w)
	id := device(c)
	for _, step := range []struct {
		name, token string
		wantCode    string
		want        []string
	}{
		{"register", "tok-a:" + strings.Repeat("Z", 40), "", []string{"tok-a:" + strings.Repeat("Z", 40) + "/sim"}},
		{"rotated", "tok-b:APA91b", "", []string{"tok-b:APA91b/sim"}},
		{"empty", "  ", "invalid", []string{"tok-b:APA91b/sim"}},
		{"garbage", "tok <b>", "invalid", []string{"tok-b:APA91b/sim"}},
	} {
		err := c.RegisterPushToken(step.token)
		if got := ErrorCode(err); got != step.wantCode {
			t.Fatalf("%s: RegisterPushToken = %v (code %q), want code %q", step.name, err, got, step.wantCode)
		}
		if got := fmt.Sprint(stored(id)); got != fmt.Sprint(step.want) {
			t.Fatalf("%s: the server holds %s, want %s", step.name, got, step.want)
		}
	}
	if _, err := c.Logout(true); err != nil {
		t.Fatal(err)
	}
	if got := stored(id); len(got) != 0 {
		t.Fatalf("after sign-out the server still holds %v", got)
	}

	// Revoked: refused, nothing stored, and the phone wipes itself.
	r := s.enrolPhone(t, sup, s.person(t, 0, "worker", 1))
	rid := device(r)
	s.admin(t, sup, "/v1/admin/devices/"+rid+"/revoke", map[string]string{"reason": "lost"})
	if err := r.RegisterPushToken("tok-r"); ErrorCode(err) != EREVOKED {
		t.Fatalf("revoked: RegisterPushToken = %v, want revoked", err)
	}
	if st := status(t, r); !st.Wiped {
		t.Fatalf("revoked phone: status %+v, want wiped", st)
	}
	if got := stored(rid); len(got) != 0 {
		t.Fatalf("the revoked phone's tokens %v", got)
	}
}
