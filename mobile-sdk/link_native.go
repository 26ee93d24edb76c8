//go:build !js

package mobilesdk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
)

// netLink is the native apps' link. The request timeout is the context's.
type netLink struct{ hc *http.Client }

func defaultLink() link { return netLink{&http.Client{}} }

func (l netLink) send(ctx context.Context, method, url, cred, contentType, lang string, body []byte) (*reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, errBadAddress
	}
	req.Header.Set("Content-Type", contentType)
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r := &reply{status: resp.StatusCode, date: httpDate(resp.Header.Get("Date")), lang: resp.Header.Get("Content-Language")}
	r.body, r.readErr = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return r, nil
}

// dialFailed and netTimeout read a net/http failure for tooSlow (adapt.go);
// they live with the link so the browser build leaves package net out.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func netTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (l netLink) events(ctx context.Context, url, cred string) (int, io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, errBadAddress
	}
	req.Header.Set("Authorization", "Bearer "+cred)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := l.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, resp.Body, nil
}
