package mobilesdk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
)

var testKey = bytes.Repeat([]byte{7}, KeySize)

// fixedClock is a settable clock for tests.
type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }

// MustOpen opens a client in dir with the test key and a fixed clock.
func MustOpen(tb testing.TB, dir string, clk *fixedClock) *Client {
	tb.Helper()
	if clk == nil {
		clk = &fixedClock{time.Date(2026, 3, 2, 18, 30, 0, 0, time.UTC)}
	}
	c, err := open(dir, testKey, "sim", options{now: clk.now, jitter: func() float64 { return 0.5 }})
	if err != nil {
		tb.Fatalf("open %s: %v", dir, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// enrolLocal gives a client an identity without a server (local-only tests).
func enrolLocal(tb testing.TB, c *Client, replica byte, person, team string) {
	tb.Helper()
	id := syncengine.ReplicaID{replica}
	err := c.st.Write(&localstore.Batch{Meta: map[string]string{"replica_id": id.String(), "person_id": person, "team_id": team, "device_id": "dev_test"},
		Secrets: map[string]string{"credential": "secret-credential-" + person}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.startReplica(); err != nil {
		tb.Fatal(err)
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// mustS(tb)(c.Get(id)) returns the string or fails the test.
func mustS(tb testing.TB) func(string, error) string {
	return func(s string, err error) string {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
}

// view decodes a record view.
func view(tb testing.TB, c *Client, id string) syncengine.View {
	tb.Helper()
	var v syncengine.View
	if err := json.Unmarshal([]byte(mustS(tb)(c.Get(id))), &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

func str(tb testing.TB, v syncengine.View, field string) string {
	tb.Helper()
	var s string
	if raw, ok := v.Values[field]; ok {
		if err := json.Unmarshal(raw, &s); err != nil {
			tb.Fatalf("%s is not a string: %s", field, raw)
		}
	}
	return s
}

type statusT struct {
	Enrolled          bool                     `json:"enrolled"`
	Wiped             bool                     `json:"wiped"`
	PendingChangesets int64                    `json:"pending_changesets"`
	HeldChangesets    int64                    `json:"held_changesets"`
	LastError         string                   `json:"last_error"`
	LastErrorCode     string                   `json:"last_error_code"`
	LastSynced        string                   `json:"last_synced"`
	Quarantined       []localstore.Quarantined `json:"quarantined"`
	WipeReport        *wipeReport              `json:"wipe_report"`
}

func status(tb testing.TB, c *Client) statusT {
	tb.Helper()
	var s statusT
	if err := json.Unmarshal([]byte(mustS(tb)(c.Status())), &s); err != nil {
		tb.Fatal(err)
	}
	return s
}

// dirBytes concatenates every file in dir (the database, its WAL and SHM).
func dirBytes(tb testing.TB, dir string) []byte {
	tb.Helper()
	var all []byte
	entries, err := os.ReadDir(dir)
	must(tb, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		must(tb, err)
		all = append(all, b...)
	}
	return all
}

// sq is the client's SQLite store, for tests that look inside the file.
func sq(c *Client) *store { return c.st.(sqliteLocal).store }

// outboxChangesets decodes the client's queued saves.
func outboxChangesets(c *Client) ([]*syncengine.Changeset, error) {
	es, err := c.st.Outbox(0)
	if err != nil {
		return nil, err
	}
	out := make([]*syncengine.Changeset, len(es))
	for i, e := range es {
		if out[i], err = syncengine.DecodeChangeset(e.Body); err != nil {
			return nil, err
		}
	}
	return out, nil
}
