// Package fcmfake is a local fake of the FCM HTTP v1 send endpoint
// (POST /v1/projects/{project}/messages:send) for tests and benchmarks: the real Firebase Admin
// SDK talks to it over loopback (push.Config.Endpoint = fake.URL). Responses are scriptable per
// token; unscripted tokens succeed.
package fcmfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Response is one scripted answer.
type Response struct {
	Status     int    // HTTP status; 0 or 200 is success
	ErrorCode  string // FCM error code in the FcmError detail (UNREGISTERED, QUOTA_EXCEEDED...)
	GRPCStatus string // the error's status (NOT_FOUND, RESOURCE_EXHAUSTED...)
	RetryAfter string // Retry-After header value
	Delay      time.Duration
	Drop       bool // close the connection without answering (a network error)
	// Block, when not nil, holds the request until the channel is closed (kill tests).
	Block chan struct{}
}

// Canned responses, shaped as FCM answers them.
var (
	OK           = Response{}
	Unregistered = Response{Status: 404, GRPCStatus: "NOT_FOUND", ErrorCode: "UNREGISTERED"}
	Invalid      = Response{Status: 400, GRPCStatus: "INVALID_ARGUMENT", ErrorCode: "INVALID_ARGUMENT"}
	Internal     = Response{Status: 500, GRPCStatus: "INTERNAL", ErrorCode: "INTERNAL"}
	Unavailable  = Response{Status: 503, GRPCStatus: "UNAVAILABLE", ErrorCode: "UNAVAILABLE"}
)

// Quota is a 429 with a Retry-After header (seconds) when retryAfter is not empty.
func Quota(retryAfter string) Response {
	return Response{Status: 429, GRPCStatus: "RESOURCE_EXHAUSTED", ErrorCode: "QUOTA_EXCEEDED", RetryAfter: retryAfter}
}

// Received is one request as the fake saw it.
type Received struct {
	Project       string
	Token         string
	Authorization string
	Answer        int             // HTTP status answered (0: dropped)
	Body          json.RawMessage // {"message": {...}}
	Message       map[string]any
}

// Server is the fake.
type Server struct {
	*httptest.Server
	// Record keeps every request in Requests (turn off for benchmarks).
	Record bool

	mu       sync.Mutex
	script   map[string][]Response
	fallback Response
	requests []Received
	count    atomic.Int64
	ids      atomic.Int64
}

// New starts a fake on loopback.
func New() *Server {
	f := &Server{Record: true, script: map[string][]Response{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// Script queues responses for token, answered in order; afterwards the token succeeds.
func (f *Server) Script(token string, rs ...Response) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[token] = append(f.script[token], rs...)
}

// Fallback sets the answer for tokens with no (remaining) script.
func (f *Server) Fallback(r Response) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fallback = r
}

// Count is the number of send requests received (answered or not).
func (f *Server) Count() int64 { return f.count.Load() }

// Requests returns a copy of the recorded requests.
func (f *Server) Requests() []Received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Received(nil), f.requests...)
}

// Reset forgets recorded requests and the count.
func (f *Server) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = nil
	f.count.Store(0)
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/projects/")
	project, ok2 := strings.CutSuffix(rest, "/messages:send")
	if r.Method != http.MethodPost || !ok || !ok2 || project == "" || strings.Contains(project, "/") {
		http.Error(w, `{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`, http.StatusNotFound)
		return
	}
	f.count.Add(1)
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Message map[string]any `json:"message"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Message == nil {
		writeErr(w, Response{Status: 400, GRPCStatus: "INVALID_ARGUMENT", ErrorCode: "INVALID_ARGUMENT"})
		return
	}
	token, _ := req.Message["token"].(string)

	f.mu.Lock()
	resp := f.fallback
	if q := f.script[token]; len(q) > 0 {
		resp, f.script[token] = q[0], q[1:]
	}
	f.mu.Unlock()

	rec := Received{Project: project, Token: token, Authorization: r.Header.Get("Authorization"),
		Body: body, Message: req.Message, Answer: resp.Status}
	if rec.Answer == 0 && !resp.Drop {
		rec.Answer = 200
	}
	if resp.Drop {
		rec.Answer = 0
	}
	if f.Record {
		f.mu.Lock()
		f.requests = append(f.requests, rec)
		f.mu.Unlock()
	}
	if resp.Block != nil {
		select {
		case <-resp.Block:
		case <-r.Context().Done():
			return
		}
	}
	if resp.Delay > 0 {
		time.Sleep(resp.Delay)
	}
	if resp.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if resp.Status == 0 || resp.Status == 200 {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"name":"projects/%s/messages/%d"}`, project, f.ids.Add(1))
		return
	}
	writeErr(w, resp)
}

func writeErr(w http.ResponseWriter, r Response) {
	if r.RetryAfter != "" {
		w.Header().Set("Retry-After", r.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.Status)
	detail := ""
	if r.ErrorCode != "" {
		detail = fmt.Sprintf(`,"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":%q}]`, r.ErrorCode)
	}
	fmt.Fprintf(w, `{"error":{"code":%d,"message":"fake %s","status":%q%s}}`, r.Status, r.ErrorCode, r.GRPCStatus, detail)
}
