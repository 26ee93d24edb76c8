package mobilesdk

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// RegisterPushToken sends this device's push token (the FCM registration
// token: the native apps' from the FCM SDK, the field app's from the
// Firebase JS SDK) to the server, which files it under this device and its
// worker (POST /v1/push/token, with the platform this client was opened
// with). Call it at start and whenever FCM rotates the token; a new token
// replaces the device's old one. A revoked device is wiped, as by a sync.
func (c *Client) RegisterPushToken(token string) error {
	token = strings.TrimSpace(token)
	if token == "" {
		return errorf(syncengine.EINVALID, "push token", "the push token is empty")
	}
	body, _ := json.Marshal(map[string]string{"token": token, "platform": c.platform})
	return c.pushToken(context.Background(), "POST", body)
}

// UnregisterPushToken asks the server to forget this device's push token
// (the worker turned notifications off). Logout does it too.
func (c *Client) UnregisterPushToken() error {
	return c.pushToken(context.Background(), "DELETE", nil)
}

func (c *Client) pushToken(ctx context.Context, method string, body []byte) error {
	st, _, err := c.state(false)
	if err != nil {
		return err
	}
	server, err := st.Meta("server_url")
	if err != nil {
		return err
	}
	cred, err := st.Secret("credential")
	if err != nil {
		return err
	}
	if server == "" || cred == "" {
		return errorf(ENOTENROLLED, "push token", "enrol this device first")
	}
	_, err = c.callMethod(ctx, method, server+"/v1/push/token", cred, "application/json", body, func([]byte) error { return nil })
	if ErrorCode(err) == EREVOKED && c.wipeRequested(err) {
		c.wipe()
	}
	return err
}

// forgetPushToken is Logout's best effort to stop the server sending to a
// phone nobody is signed in on: short, and skipped when the host said it
// is offline, so that signing out never waits on the network.
func (c *Client) forgetPushToken() {
	st, _, err := c.state(false)
	if err != nil {
		return
	}
	if off, _ := st.Meta("offline"); off == "1" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.pushToken(ctx, "DELETE", nil)
}
