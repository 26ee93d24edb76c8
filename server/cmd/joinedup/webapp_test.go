package main

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

// TestWebPushFlags: the field app's Web Push configuration comes from
// WEBPUSH_* or -webpush-* (flags win), all five or none, and must name the
// project the server sends with.
func TestWebPushFlags(t *testing.T) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	must(t, err)
	vapid := base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes())
	full := []string{"-webpush-api-key", "AIzaSyA-test_key-0123456789abcdefghijk", "-webpush-project", "joinedup-test",
		"-webpush-sender-id", "123456789012", "-webpush-app-id", "1:123456789012:web:0123456789abcdef", "-webpush-vapid-key", vapid}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		enabled bool
	}{
		{name: "none", enabled: false},
		{name: "flags", args: full, enabled: true},
		{name: "flags with the same FCM project", args: append([]string{"-fcm-project", "joinedup-test"}, full...), enabled: true},
		{name: "environment", env: map[string]string{"WEBPUSH_API_KEY": full[1], "WEBPUSH_PROJECT_ID": full[3], "WEBPUSH_SENDER_ID": full[5],
			"WEBPUSH_APP_ID": full[7], "WEBPUSH_VAPID_KEY": vapid}, enabled: true},
		{name: "a flag overrides a bad environment", env: map[string]string{"WEBPUSH_API_KEY": full[1], "WEBPUSH_PROJECT_ID": full[3], "WEBPUSH_SENDER_ID": full[5],
			"WEBPUSH_APP_ID": full[7], "WEBPUSH_VAPID_KEY": "nonsense"}, args: []string{"-webpush-vapid-key", vapid}, enabled: true},
		{name: "only the VAPID key", args: []string{"-webpush-vapid-key", vapid}, wantErr: "missing"},
		{name: "another FCM project", args: append([]string{"-fcm-project", "joinedup-other"}, full...), wantErr: "differs from the FCM project"},
		{name: "a private key for the VAPID key", args: append(append([]string{}, full[:9]...), base64.RawURLEncoding.EncodeToString(k.Bytes())), wantErr: "VAPID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"WEBPUSH_API_KEY", "WEBPUSH_PROJECT_ID", "WEBPUSH_SENDER_ID", "WEBPUSH_APP_ID", "WEBPUSH_VAPID_KEY", "FCM_PROJECT_ID"} {
				t.Setenv(name, tc.env[name])
			}
			m := NewMain()
			err := m.ParseFlags(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseFlags = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFlags = %v", err)
			}
			if m.Config.WebPush.Enabled() != tc.enabled {
				t.Fatalf("enabled = %v, want %v (%+v)", m.Config.WebPush.Enabled(), tc.enabled, m.Config.WebPush)
			}
		})
	}
}
