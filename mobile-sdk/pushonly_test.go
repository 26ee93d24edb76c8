package mobilesdk

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/joinedup/joinedup/syncengine/protocol"
)

// syncRecorder sits between the phones and the server and keeps each sync
// request's header as sent.
type syncRecorder struct {
	mu   sync.Mutex
	reqs []protocol.Request
}

func (r *syncRecorder) start(t *testing.T, server string) string {
	target, err := url.Parse(server)
	must(t, err)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v1/sync" && req.Header.Get("Content-Type") == protocol.ContentType {
			body, err := io.ReadAll(req.Body)
			must(t, err)
			var hdr protocol.Request
			if _, err := protocol.Decode(body, &hdr, 1); err == nil {
				r.mu.Lock()
				r.reqs = append(r.reqs, hdr)
				r.mu.Unlock()
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func (r *syncRecorder) take() []protocol.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// A phone back from a shift with more saves than one round trip carries
// pushes them push-only and pulls once, with the last batch, from the
// cursor it had: every save reaches the server once, and the phone still
// receives what its teammate saved meanwhile.
func TestBacklogPushesBeforeItPulls(t *testing.T) {
	s := startE2EServer(t)
	var rec syncRecorder
	s.url = rec.start(t, s.url) // phones enrol through the recorder
	back, mate := s.phone("w_a"), s.phone("w_a2")
	must(t, back.SetDefaultTeam("team_a"))
	must(t, mate.SetDefaultTeam("team_a"))
	yp := mustS(t)(mate.CreateYoungPerson(`{"known_as":"Robin"}`))
	syncOK(t, mate)
	syncOK(t, back)
	cursor := mustS(t)(back.st.Meta("cursor"))

	// While back is offline, the mate saves again, and back saves many
	// times; a small push budget makes back's outbox several round trips.
	must(t, mate.Update(yp, `{"area":"Northgate"}`))
	syncOK(t, mate)
	var encs []string
	for i := range 12 {
		encs = append(encs, mustS(t)(back.CreateEncounter(fmt.Sprintf(`{"area":"Park","note":"Shift note %d","young_people":[%q]}`, i, yp))))
	}
	back.mu.Lock()
	back.sizes = newLinkSizes(600, back.sizes.maxPage)
	back.mu.Unlock()
	rec.take()
	syncOK(t, back)

	reqs := rec.take()
	if len(reqs) < 3 {
		t.Fatalf("%d round trips: the push budget did not split the outbox", len(reqs))
	}
	pushOnly := 0
	for i, r := range reqs {
		if r.NoPull {
			pushOnly++
			if r.Cursor != cursor {
				t.Errorf("push-only round trip %d sent cursor %q, want the phone's %q", i, r.Cursor, cursor)
			}
		}
	}
	if pushOnly == 0 {
		t.Error("no round trip was push-only")
	}
	if last := reqs[len(reqs)-1]; last.NoPull || len(reqs) == pushOnly {
		t.Error("the sync ended without pulling")
	}
	if got := str(t, view(t, back, yp), "area"); got != "Northgate" {
		t.Errorf("back did not receive the mate's save: area %q", got)
	}
	if st := status(t, back); st.PendingChangesets != 0 {
		t.Errorf("%d saves still in the outbox", st.PendingChangesets)
	}
	syncOK(t, mate)
	for _, id := range encs {
		if _, err := mate.Get(id); err != nil {
			t.Errorf("encounter %s did not reach the mate: %v", id, err)
		}
	}
}
