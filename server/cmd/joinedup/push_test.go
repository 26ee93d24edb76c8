package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/server/push/fcmfake"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
	"golang.org/x/crypto/bcrypt"
)

func bootForPush(t *testing.T, out io.Writer) *Main {
	t.Helper()
	m := NewMain()
	m.Out = out
	m.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	m.Config.Addr = "127.0.0.1:0"
	m.Config.DataDir = t.TempDir()
	m.Config.BcryptCost = bcrypt.MinCost
	m.Config.Demo = false
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	// Close right after Run can race Fiber's Serve (Shutdown before the
	// listener is registered leaves Serve running): wait until it answers.
	resp, err := http.Get(m.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return m
}

// Without FCM configuration Main says notifications are only logged, and
// the LogSender runs until Close.
func TestMainPushLogOnly(t *testing.T) {
	t.Setenv("FCM_PROJECT_ID", "")
	t.Setenv("FCM_CREDENTIALS_FILE", "")
	t.Setenv("FCM_ENDPOINT", "")
	var out bytes.Buffer
	m := bootForPush(t, &out)
	if _, ok := m.Deliverer.(*push.LogSender); !ok {
		t.Fatalf("deliverer %T, want *push.LogSender", m.Deliverer)
	}
	if !strings.Contains(out.String(), "only logged") {
		t.Fatalf("banner does not say notifications are only logged:\n%s", out.String())
	}
	must(t, m.Close())
}

// With FCM_PROJECT_ID and FCM_ENDPOINT (a fake FCM), a referral submitted
// through the running program's sync API reaches the practitioner's
// registered device through the real Firebase SDK.
func TestMainPushFCMEndToEnd(t *testing.T) {
	fake := fcmfake.New()
	defer fake.Close()
	t.Setenv("FCM_PROJECT_ID", "joinedup-test")
	t.Setenv("FCM_CREDENTIALS_FILE", "")
	t.Setenv("FCM_ENDPOINT", fake.URL)
	m := bootForPush(t, io.Discard)
	if _, ok := m.Deliverer.(*push.Sender); !ok {
		t.Fatalf("deliverer %T, want *push.Sender", m.Deliverer)
	}
	ctx := context.Background()
	must(t, m.DB.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(t, m.DB.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	must(t, m.DB.UpsertService(ctx, domain.Service{ID: "svc_h", Name: "Housing", Kind: "housing", SharedFields: []string{"reason"}}))
	must(t, m.DB.UpsertPerson(ctx, domain.Person{ID: "w_a", Name: "W", Role: "worker", TeamID: "team_a", TZ: "Europe/London"}))
	must(t, m.DB.UpsertPerson(ctx, domain.Person{ID: "prac", Name: "P", Role: "practitioner", ServiceID: "svc_h", TZ: "Europe/London"}))

	post := func(path, cred string, body any) []byte {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", m.URL()+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, rb)
		}
		return rb
	}
	enrol := func(person string) domain.Enrolment {
		code, _, err := m.DB.IssueEnrolmentCode(ctx, person, "admin")
		must(t, err)
		var e domain.Enrolment
		must(t, json.Unmarshal(post("/v1/enrol", "", map[string]string{"code": code, "platform": "android"}), &e))
		return e
	}
	worker, prac := enrol("w_a"), enrol("prac")
	post("/v1/push/token", prac.Credential, map[string]string{"token": "prac-token", "platform": "android"})

	rid, err := syncengine.ParseReplicaID(worker.ReplicaID)
	must(t, err)
	rep, err := syncengine.NewReplica(syncengine.Config{ID: rid, Now: time.Now, Rand: rand.Reader, Store: syncengine.NewMemStore()})
	must(t, err)
	cs, err := rep.Edit("w_a", func(tx *syncengine.Txn) error {
		id, err := tx.Create(syncengine.TypeReferral)
		if err != nil {
			return err
		}
		for k, v := range map[string]string{"team_id": "team_a", "young_person_id": "yp1", "service_id": "svc_h",
			"urgency": "urgent", "consent": "given", "status": "submitted"} {
			if err := tx.Set(id, k, v); err != nil {
				return err
			}
		}
		return tx.InsertText(id, "reason", 0, "needs a roof tonight")
	})
	must(t, err)
	var res protocol.Response
	must(t, json.Unmarshal(post("/v1/sync", worker.Credential, protocol.Request{NoPull: true,
		Changesets: []string{base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs))}}), &res))
	if len(res.Results) != 1 || res.Results[0].Status != protocol.StatusAccepted {
		t.Fatalf("push: %+v", res.Results)
	}
	// The running Deliverer polls; sending now as well only shortens the wait.
	deadline := time.Now().Add(10 * time.Second)
	for fake.Count() == 0 && time.Now().Before(deadline) {
		if _, err := m.Deliverer.SendDue(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	reqs := fake.Requests()
	if len(reqs) == 0 || reqs[0].Token != "prac-token" || !strings.Contains(string(reqs[0].Body), push.KindHandoff) {
		t.Fatalf("fake FCM received %+v", reqs)
	}
	if strings.Contains(string(reqs[0].Body), "roof") {
		t.Fatalf("payload carries the reason: %s", reqs[0].Body)
	}
	must(t, m.Close())
}
