package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/syncengine"
)

// A push draws its log sequence number only while it holds the commit lock,
// whatever shape the statements that take it have (the pull's cursor relies
// on it: TestPullNeverSkipsLateCommit shows the race it prevents, but only
// when it happens to hit the window). While another session holds the
// lock, a pushing sync waits on it without having drawn a seq; once the
// lock is free it draws one and finishes.
func TestPushDrawsSeqOnlyUnderTheCommitLock(t *testing.T) {
	ns := nodes(t, 1)
	db := ns[0]
	ctx := context.Background()
	p := enrol(t, db, "w_a")
	seqNow := func() int64 {
		t.Helper()
		var v int64
		must(t, db.Pool().QueryRow(ctx, `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM changesets_seq_seq`).Scan(&v))
		return v
	}

	holder, err := db.Pool().Acquire(ctx)
	must(t, err)
	defer holder.Release()
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(postgres.CommitLockKey)); err != nil {
		t.Fatal(err)
	}
	before := seqNow()
	if _, err := p.tryEdit(func(tx *syncengine.Txn) error { _, err := encounter(tx, "pushed while the lock is held"); return err }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := p.sync(db, true); done <- err }()

	// Wait until the push waits on the lock; it must not finish first.
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("the push finished (err %v) while another session held the commit lock", err)
		default:
		}
		var waiting int
		must(t, holder.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND wait_event = 'advisory'`).Scan(&waiting))
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the push never waited on the commit lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := seqNow(); got != before {
		t.Fatalf("the waiting push drew seq %d (was %d) before it held the commit lock", got, before)
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock($1)`, int64(postgres.CommitLockKey)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := seqNow(); got <= before {
		t.Fatalf("seq after the push %d, want > %d", got, before)
	}
}
