package push_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/server/push"
)

// The payload builder only takes a Notification; this pins its fields so that adding a field
// that could carry a name or note text fails here and gets a review.
func TestNotificationHasOnlyOpaqueFields(t *testing.T) {
	want := map[string]reflect.Type{
		"ID": reflect.TypeOf(""), "RecipientKind": reflect.TypeOf(""), "RecipientID": reflect.TypeOf(""),
		"Kind": reflect.TypeOf(""), "RecordID": reflect.TypeOf(""), "Urgent": reflect.TypeOf(false),
		"NotBefore": reflect.TypeOf(time.Time{}),
	}
	typ := reflect.TypeOf(push.Notification{})
	if typ.NumField() != len(want) {
		t.Fatalf("Notification has %d fields, want %d: review it for personal data", typ.NumField(), len(want))
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if want[f.Name] != f.Type {
			t.Errorf("field %s %v not in the reviewed set", f.Name, f.Type)
		}
	}
	bm := reflect.TypeOf(push.BuildMessage)
	if bm.NumIn() != 3 || bm.In(0) != typ || bm.In(1).Kind() != reflect.String || bm.In(2).Kind() != reflect.String {
		t.Errorf("BuildMessage takes %v, want (Notification, token, lang string)", bm)
	}
	// The language only picks one of the fixed texts: whatever it holds
	// never reaches the payload.
	n := push.Notification{ID: "n1", RecipientKind: "person", RecipientID: "p1", Kind: push.KindHandoff, RecordID: "r1"}
	raw, _ := json.Marshal(push.BuildMessage(n, "tok", "Jane Doe"))
	if strings.Contains(string(raw), "Jane") || !strings.Contains(string(raw), push.Texts[push.KindHandoff]) {
		t.Errorf("a language that is not one gave %s", raw)
	}
}

func TestValidateRejectsNonOpaqueText(t *testing.T) {
	base := push.Notification{ID: "n1", RecipientKind: "person", RecipientID: "p1", Kind: push.KindHandoff, RecordID: "r1"}
	if err := base.Validate(); err != nil {
		t.Fatalf("valid notification rejected: %v", err)
	}
	bad := []func(*push.Notification){
		func(n *push.Notification) { n.RecordID = "Jane Doe" },
		func(n *push.Notification) { n.RecordID = "saw J at the park, worried about home" },
		func(n *push.Notification) { n.RecipientID = "jane.doe@example.org" },
		func(n *push.Notification) { n.ID = "" },
		func(n *push.Notification) { n.ID = strings.Repeat("a", 65) },
		func(n *push.Notification) { n.Kind = "custom text" },
		func(n *push.Notification) { n.RecipientKind = "team" },
		func(n *push.Notification) { n.RecordID = "" },
	}
	for i, mod := range bad {
		n := base
		mod(&n)
		if err := n.Validate(); err == nil {
			t.Errorf("case %d: %+v accepted", i, n)
		}
	}
	e := newEnv(t)
	n := base
	n.RecordID = "Jane Doe"
	if err := e.store.Enqueue(context.Background(), n); err == nil {
		t.Error("Enqueue accepted a record id with personal text")
	}
}

// collectStrings returns every string (keys excluded) in a decoded JSON value.
func collectStrings(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case map[string]any:
		for _, e := range x {
			collectStrings(e, out)
		}
	case []any:
		for _, e := range x {
			collectStrings(e, out)
		}
	}
}

func TestBuildMessageCarriesOnlyIDsAndGenericText(t *testing.T) {
	for kind := range push.Texts {
		for _, c := range []struct {
			urgent bool
			lang   string
		}{{false, ""}, {true, ""}, {false, "cy"}, {true, "cy"}} {
			urgent, text := c.urgent, push.Text(kind, c.lang)
			n := push.Notification{ID: "nABC", RecipientKind: "person", RecipientID: "p1", Kind: kind, RecordID: "rec1", Urgent: urgent}
			raw, err := json.Marshal(push.BuildMessage(n, "tok-1", c.lang))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			json.Unmarshal(raw, &m)
			allowed := map[string]bool{"nABC": true, "rec1": true, "tok-1": true, kind: true, "1": true,
				"high": true, "normal": true, "5": true, "10": true, "alert": true, "background": true,
				push.Title: true, text: true}
			var strs []string
			collectStrings(m, &strs)
			for _, s := range strs {
				if !allowed[s] {
					t.Errorf("%s: unexpected string %q in payload %s", kind, s, raw)
				}
			}
			if strings.Contains(string(raw), "p1") {
				t.Errorf("%s: recipient id leaked into payload %s", kind, raw)
			}
			data := m["data"].(map[string]any)
			if data["nid"] != "nABC" {
				t.Errorf("%s: data.nid = %v", kind, data["nid"])
			}
			android := m["android"].(map[string]any)
			if android["collapse_key"] != "nABC" {
				t.Errorf("%s: android.collapse_key = %v", kind, android["collapse_key"])
			}
			apns := m["apns"].(map[string]any)
			if h := apns["headers"].(map[string]any); h["apns-collapse-id"] != "nABC" {
				t.Errorf("%s: apns-collapse-id = %v", kind, h["apns-collapse-id"])
			}
			if kind == push.KindSync {
				if _, ok := m["notification"]; ok {
					t.Errorf("sync message has a notification block: %s", raw)
				}
				if _, ok := android["notification"]; ok {
					t.Errorf("sync message has an android notification block: %s", raw)
				}
			} else if m["notification"].(map[string]any)["body"] != text {
				t.Errorf("%s: body = %v", kind, m["notification"])
			}
		}
	}
}

// The same checks on what the real SDK actually put on the wire.
func TestPayloadOnTheWire(t *testing.T) {
	e := newEnv(t)
	e.token(t, "dev1", "p1", "tok-p1")
	e.enqueue(t,
		push.Notification{ID: "nFollow", RecipientKind: "person", RecipientID: "p1", Kind: push.KindFollowUpDue, RecordID: "fu1"},
		push.Notification{ID: "nSync", RecipientKind: "person", RecipientID: "p1", Kind: push.KindSync})
	s := e.sender(t)
	if n := sendDue(t, s); n != 2 {
		t.Fatalf("sent %d, want 2", n)
	}
	reqs := e.fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("fake got %d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if r.Project != "joinedup-test" || r.Authorization != "Bearer test-token" || r.Token != "tok-p1" {
			t.Errorf("request project=%q auth=%q token=%q", r.Project, r.Authorization, r.Token)
		}
		nid := r.Message["data"].(map[string]any)["nid"]
		if r.Message["android"].(map[string]any)["collapse_key"] != nid {
			t.Errorf("collapse key != nid in %s", r.Body)
		}
		_, hasNote := r.Message["notification"]
		if (nid == "nSync") == hasNote {
			t.Errorf("%v: notification block present=%v: %s", nid, hasNote, r.Body)
		}
		if nid == "nFollow" && r.Message["notification"].(map[string]any)["body"] != "You have a follow-up due" {
			t.Errorf("body: %s", r.Body)
		}
	}
}

// TestNotificationTextsInWelsh: every visible kind has a Welsh text of its
// own (a catalogue miss would show English on a Welsh speaker's phone), and
// the language only picks among fixed texts.
func TestNotificationTextsInWelsh(t *testing.T) {
	i18n.Misses()
	for kind, en := range push.Texts {
		cy := push.Text(kind, i18n.Welsh)
		if en == "" {
			if cy != "" {
				t.Errorf("%s: a data-only kind has Welsh text %q", kind, cy)
			}
			continue
		}
		if cy == "" || cy == en {
			t.Errorf("%s: Welsh %q for %q", kind, cy, en)
		}
		if got := push.Text(kind, ""); got != en {
			t.Errorf("%s: no language chosen gives %q, want English %q", kind, got, en)
		}
	}
	if m := i18n.Misses(); len(m) > 0 {
		t.Errorf("catalogue misses: %v", m)
	}
}

// Web phones (the field app at /app/) get the webpush part: FCM delivers
// it to web tokens only. It carries the same ids and generic text, the
// urgency a browser's push service understands, and for a sync nothing to
// show (the service worker wakes the app to pull).
func TestWebPushPartOnTheWire(t *testing.T) {
	e := newEnv(t)
	e.token(t, "dev1", "p1", "tok-web")
	e.enqueue(t,
		push.Notification{ID: "nConcern", RecipientKind: "person", RecipientID: "p1", Kind: push.KindConcernRaised, RecordID: "enc1", Urgent: true},
		push.Notification{ID: "nSync", RecipientKind: "person", RecipientID: "p1", Kind: push.KindSync})
	if n := sendDue(t, e.sender(t)); n != 2 {
		t.Fatalf("sent %d, want 2", n)
	}
	got := map[any]map[string]any{}
	for _, r := range e.fake.Requests() {
		wp, ok := r.Message["webpush"].(map[string]any)
		if !ok {
			t.Fatalf("no webpush part on the wire: %s", r.Body)
		}
		got[r.Message["data"].(map[string]any)["nid"]] = wp
	}
	tests := []struct {
		nid, urgency, body string
	}{
		{"nConcern", "high", push.Texts[push.KindConcernRaised]},
		{"nSync", "high", ""},
	}
	for _, tt := range tests {
		wp := got[tt.nid]
		if wp == nil {
			t.Fatalf("%s: not sent", tt.nid)
		}
		if h, _ := wp["headers"].(map[string]any); h["Urgency"] != tt.urgency {
			t.Errorf("%s: webpush Urgency = %v, want %s", tt.nid, h["Urgency"], tt.urgency)
		}
		if d, _ := wp["data"].(map[string]any); d["nid"] != tt.nid {
			t.Errorf("%s: webpush data = %v, want the notification id", tt.nid, wp["data"])
		}
		note, hasNote := wp["notification"].(map[string]any)
		if tt.body == "" {
			if hasNote {
				t.Errorf("%s: a sync shows a web notification: %v", tt.nid, note)
			}
			continue
		}
		if !hasNote || note["title"] != push.Title || note["body"] != tt.body || note["tag"] != tt.nid {
			t.Errorf("%s: webpush notification = %v, want title, generic body and the id as tag", tt.nid, note)
		}
	}
}
