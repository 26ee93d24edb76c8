package webapp

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// WebPush is what the field app needs to subscribe to Web Push through
// Firebase Cloud Messaging: the Firebase project's web app configuration
// (Firebase console > Project settings > Your apps > Web app) and the
// project's VAPID public key (Cloud Messaging > Web Push certificates).
// All of it is public by design (the browser sends it to Google); none of it
// is a credential. The zero value is "not configured": the app then hides
// its notifications control and the CSP allows no Firebase endpoint.
type WebPush struct {
	APIKey            string `json:"apiKey"`
	ProjectID         string `json:"projectId"`
	MessagingSenderID string `json:"messagingSenderId"`
	AppID             string `json:"appId"`
	// VAPIDKey is the public key (base64url of the uncompressed P-256
	// point) the browser's push service checks the FCM's messages against.
	VAPIDKey string `json:"vapidKey"`
}

// Enabled reports whether any of it is set (Validate then requires all).
func (w WebPush) Enabled() bool { return w != WebPush{} }

var (
	apiKeyRe    = regexp.MustCompile(`^[A-Za-z0-9_-]{20,100}$`)
	projectIDRe = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	senderIDRe  = regexp.MustCompile(`^[0-9]{1,20}$`)
	appIDRe     = regexp.MustCompile(`^1:([0-9]{1,20}):web:[0-9a-f]{1,64}$`)
)

// Validate checks the configuration is all there and well formed, so that
// a pasted value with a stray quote or a missing field stops the server
// at start, not every phone at "Turn on notifications".
func (w WebPush) Validate() error {
	if !w.Enabled() {
		return nil
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"api key", w.APIKey}, {"project id", w.ProjectID},
		{"messaging sender id", w.MessagingSenderID}, {"app id", w.AppID}, {"VAPID public key", w.VAPIDKey}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web push: %s missing (set all five, or none to turn Web Push off)", strings.Join(missing, ", "))
	}
	if !apiKeyRe.MatchString(w.APIKey) {
		return fmt.Errorf("web push: the api key is not a Firebase web API key")
	}
	if !projectIDRe.MatchString(w.ProjectID) {
		return fmt.Errorf("web push: project id %q is not a Firebase project id", w.ProjectID)
	}
	if !senderIDRe.MatchString(w.MessagingSenderID) {
		return fmt.Errorf("web push: messaging sender id %q is not a number", w.MessagingSenderID)
	}
	m := appIDRe.FindStringSubmatch(w.AppID)
	if m == nil {
		return fmt.Errorf("web push: app id %q is not a Firebase web app id (1:SENDER:web:HEX)", w.AppID)
	}
	if m[1] != w.MessagingSenderID {
		return fmt.Errorf("web push: app id %q belongs to sender %s, not %s", w.AppID, m[1], w.MessagingSenderID)
	}
	key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(w.VAPIDKey, "="))
	if err == nil && (len(key) != 65 || key[0] != 4) {
		err = fmt.Errorf("not an uncompressed point")
	}
	if err == nil {
		_, err = ecdh.P256().NewPublicKey(key) // on the curve
	}
	if err != nil {
		return fmt.Errorf("web push: the VAPID public key must be the base64url form of a 65-byte uncompressed P-256 point")
	}
	return nil
}

// appConfig is config.json: {"push": null} when Web Push is off.
func appConfig(w WebPush) []byte {
	var v struct {
		Push *WebPush `json:"push"`
	}
	if w.Enabled() {
		v.Push = &w
	}
	b, _ := json.Marshal(v)
	return b
}
