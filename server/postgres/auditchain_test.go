package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/syncengine"
)

// Audit rows written by two nodes at once, in transactions that commit out
// of id order, all join one chain that verifies.
func TestAuditChainAcrossNodes(t *testing.T) {
	ns := nodes(t, 2)
	ctx := context.Background()
	var wg sync.WaitGroup
	const writers, each = 6, 25
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := ns[w%2].AppendAudit(ctx, domain.AuditEntry{PersonID: "sup_a", Action: domain.ActionRead,
					RecordID: fmt.Sprintf("r%d_%d", w, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	v, err := ns[1].VerifyAudit(ctx)
	must(t, err)
	if !v.OK || v.Rows < writers*each {
		t.Fatalf("chain across nodes: %+v, want ok with %d rows", v, writers*each)
	}
}

// A push's audit rows (one per changeset) are written once, already in the
// chain: the sealer rewrote each row and every index on audit_log after
// commit, a third of Postgres's time in the week push. Pushes on two nodes
// at once, beside rows the sealer chains (AppendAudit) and the syncs' own
// rows (chained at insert, or by the sealer when its lock was busy), still
// make one chain that verifies.
func TestPushAuditRowsAreChainedWhenWritten(t *testing.T) {
	ns := nodes(t, 2)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		p := enrol(t, ns[w%2], "w_a")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				for j := range 3 {
					p.edit(func(tx *syncengine.Txn) error {
						_, err := encounter(tx, fmt.Sprintf("Visit %d.%d.%d", w, i, j))
						return err
					})
				}
				if _, err := p.sync(ns[(w+i)%2], false); err != nil {
					t.Error(err)
					return
				}
				if err := ns[i%2].AppendAudit(ctx, domain.AuditEntry{PersonID: "sup_a", Action: domain.ActionRead, RecordID: fmt.Sprintf("r%d_%d", w, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	v, err := ns[0].VerifyAudit(ctx)
	must(t, err)
	if !v.OK || v.Rows < 4*5*(3+1) {
		t.Fatalf("chain: %+v, want ok with at least %d rows", v, 4*5*(3+1))
	}
	// A row rewritten after its insert carries the rewriting transaction's
	// id, not its changeset's.
	var rows, rewritten int
	must(t, ns[0].Pool().QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE a.xmin <> c.xmin)
		FROM audit_log a JOIN changesets c ON c.seq = (a.detail->>'seq')::bigint WHERE a.action = 'write'`).Scan(&rows, &rewritten))
	if rows != 4*5*3 || rewritten > 0 {
		t.Fatalf("%d of %d pushed changesets' audit rows were rewritten after their insert", rewritten, rows)
	}
}

// A sync's own audit row (the one naming what it pushed and was sent) is
// written already chained when nothing else holds the sealer's lock, as a
// push's rows are: sealing it after commit rewrote it and every index on
// audit_log, for every sync that moved anything.
func TestSyncAuditRowIsChainedWhenWritten(t *testing.T) {
	db := nodes(t, 1)[0]
	ctx := context.Background()
	p, q := enrol(t, db, "w_a"), enrol(t, db, "w_a")
	// Without the background sealer a row is chained only if its insert
	// chained it; what the setup audited is sealed first.
	postgres.StopSealer(db)
	_, err := db.VerifyAudit(ctx)
	must(t, err)
	const rounds = 3
	for i := range rounds {
		p.edit(func(tx *syncengine.Txn) error {
			_, err := encounter(tx, fmt.Sprint("Visit ", i))
			return err
		})
		for _, ph := range []*phone{p, q} { // q is sent what p pushed
			_, err := ph.sync(db, false)
			must(t, err)
		}
	}
	var rows, unchained int
	must(t, db.Pool().QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE chain_pos IS NULL) FROM audit_log WHERE action = 'sync'`).Scan(&rows, &unchained))
	if rows != 2*rounds || unchained > 0 {
		t.Fatalf("%d of %d syncs' own audit rows were written unchained (want %d rows, all chained)", unchained, rows, 2*rounds)
	}
	v, err := db.VerifyAudit(ctx)
	must(t, err)
	if !v.OK {
		t.Fatalf("chain: %+v", v)
	}
}

// Somebody with the database who edits or deletes audit rows (triggers
// off) is named by verification: the edited row, a deleted row's gap, the
// newest rows cut off.
func TestAuditChainShowsTampering(t *testing.T) {
	for _, tc := range []struct {
		name, sql string
		want      string
	}{
		{"edited", `UPDATE audit_log SET detail = '{"page": "nothing to see"}' WHERE chain_pos = 4`, "row content was changed"},
		{"deleted", `DELETE FROM audit_log WHERE chain_pos = 4`, "rows 4 to 4 were deleted"},
		{"newest deleted", `DELETE FROM audit_log WHERE chain_pos >= 9`, "rows 9 to 10 were deleted (the newest rows)"},
		{"hash removed", `UPDATE audit_log SET hash = NULL WHERE chain_pos = 4`, "row has no hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := nodes(t, 1)[0]
			ctx := context.Background()
			for i := range 10 {
				must(t, db.AppendAudit(ctx, domain.AuditEntry{PersonID: "sup_a", Action: domain.ActionRead, RecordID: fmt.Sprint("r", i)}))
			}
			v, err := db.VerifyAudit(ctx)
			must(t, err)
			if !v.OK {
				t.Fatalf("untouched chain: %+v", v)
			}
			if _, err := db.Pool().Exec(ctx, tc.sql); err == nil {
				t.Fatal("the append-only trigger let the change through")
			}
			_, err = db.Pool().Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; `+tc.sql)
			must(t, err)
			v, err = db.VerifyAudit(ctx)
			must(t, err)
			if v.OK || !strings.Contains(v.Why, tc.want) {
				t.Fatalf("after %s: %+v, want %q", tc.name, v, tc.want)
			}
		})
	}
}
