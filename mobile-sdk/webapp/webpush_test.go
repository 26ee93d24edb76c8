package webapp

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// FakeWebPush is a well-formed configuration with a real P-256 public key,
// as the Firebase console gives it (for this package's tests, internal and
// external).
func FakeWebPush(tb testing.TB) WebPush {
	tb.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return WebPush{APIKey: "AIzaSyA-test_key-0123456789abcdefghijk", ProjectID: "joinedup-test", MessagingSenderID: "123456789012",
		AppID: "1:123456789012:web:0123456789abcdef", VAPIDKey: base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes())}
}

func TestWebPushValidate(t *testing.T) {
	good := FakeWebPush(t)
	with := func(f func(w *WebPush)) WebPush { w := good; f(&w); return w }
	offCurve := make([]byte, 65)
	offCurve[0] = 4
	tests := []struct {
		name    string
		w       WebPush
		wantErr string
	}{
		{"not configured", WebPush{}, ""},
		{"configured", good, ""},
		{"padded VAPID key", with(func(w *WebPush) { w.VAPIDKey += "=" }), ""},
		{"one field only", WebPush{VAPIDKey: good.VAPIDKey}, "api key, project id, messaging sender id, app id missing"},
		{"no VAPID key", with(func(w *WebPush) { w.VAPIDKey = "" }), "VAPID public key missing"},
		{"VAPID key not base64url", with(func(w *WebPush) { w.VAPIDKey = "not a key!" }), "VAPID"},
		{"VAPID private key pasted", with(func(w *WebPush) { w.VAPIDKey = base64.RawURLEncoding.EncodeToString(make([]byte, 32)) }), "VAPID"},
		{"VAPID point off the curve", with(func(w *WebPush) { w.VAPIDKey = base64.RawURLEncoding.EncodeToString(offCurve) }), "VAPID"},
		{"api key with a quote", with(func(w *WebPush) { w.APIKey = `AIzaSy"0123456789abcdefghijk` }), "api key"},
		{"project id with capitals", with(func(w *WebPush) { w.ProjectID = "JoinedUp" }), "project id"},
		{"sender id not a number", with(func(w *WebPush) { w.MessagingSenderID = "12ab" }), "sender id"},
		{"android app id", with(func(w *WebPush) { w.AppID = "1:123456789012:android:0123456789abcdef" }), "web app id"},
		{"app id of another sender", with(func(w *WebPush) { w.AppID = "1:999:web:0123456789abcdef" }), "belongs to sender 999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.w.Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

// TestHandlerWebPushConfig: the CSP allows the two Firebase endpoints only
// when Web Push is configured, and everything else stays as strict;
// config.json tells the app whether to offer notifications.
func TestHandlerWebPushConfig(t *testing.T) {
	cfg := FakeWebPush(t)
	firebase := []string{"https://firebaseinstallations.googleapis.com", "https://fcmregistrations.googleapis.com"}
	for _, tt := range []struct {
		name string
		push WebPush
	}{{"off", WebPush{}}, {"on", cfg}} {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandler(t.TempDir(), tt.push)
			for _, path := range []string{"/", "/config.json", "/sw.js", "/vendor/firebase/firebase-messaging-compat.js"} {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", "http://x"+path, nil))
				if w.Code != 200 {
					t.Fatalf("GET %s: %d", path, w.Code)
				}
				csp := w.Header().Get("Content-Security-Policy")
				for _, f := range firebase {
					if strings.Contains(csp, f) != tt.push.Enabled() {
						t.Errorf("GET %s: CSP %q: allows %s = %v, want %v", path, csp, f, !tt.push.Enabled(), tt.push.Enabled())
					}
				}
				// Only connect-src changes: scripts stay this origin's.
				if rest := strings.Replace(csp, " "+strings.Join(firebase, " "), "", 1); rest != csp0 {
					t.Errorf("GET %s: CSP %q differs from the strict one beyond connect-src", path, csp)
				}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "http://x/config.json", nil))
			body, _ := io.ReadAll(w.Result().Body)
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("config.json Content-Type %q", ct)
			}
			var got struct{ Push *WebPush }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("config.json %s: %v", body, err)
			}
			if !tt.push.Enabled() && got.Push != nil {
				t.Fatalf("config.json = %s, want no push", body)
			}
			if tt.push.Enabled() && (got.Push == nil || *got.Push != cfg) {
				t.Fatalf("config.json = %s, want %+v", body, cfg)
			}
		})
	}
}

const csp0 = csp
