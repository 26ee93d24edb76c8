package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/server/postgres/pgtest"
	"github.com/joinedup/joinedup/server/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openDB opens a store on a fresh database with a settable clock.
func openDB(t *testing.T, url string, now *time.Time) *postgres.DB {
	t.Helper()
	return openTraced(t, url, now, nil)
}

// openTraced is openDB with every statement reported to tr (if not nil).
func openTraced(t *testing.T, url string, now *time.Time, tr pgx.QueryTracer) *postgres.DB {
	t.Helper()
	db := postgres.NewDB(url)
	db.Now = func() time.Time { return *now }
	if tr != nil {
		postgres.SetTracer(db, tr)
	}
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The store conformance suite, against a real PostgreSQL. Then every
// statement it ran is planned as a kept generic plan over empty tables
// (genericPlansScan).
func TestConformance(t *testing.T) {
	seen := &statements{}
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		now := time.Now()
		url := pgtest.URL(t)
		db := openTraced(t, url, &now, seen)
		return storetest.Harness{Store: db, Outbox: db.Outbox(), Tokens: db.Outbox(),
			SetNow: func(t time.Time) { now = t }, SetRules: func(r domain.Rules) { db.Rules = r },
			SetBounds: func(b domain.QuarantineBounds) { db.Bounds = b },
			Peer:      func() storetest.Store { return openTraced(t, url, &now, seen) },
			RecordRows: func(id string) (updated, links int64, err error) {
				err = db.Pool().QueryRow(context.Background(), `SELECT updated_seq, (SELECT COUNT(*) FROM changeset_records WHERE record_id = $1) FROM records WHERE id = $1`, id).Scan(&updated, &links)
				return updated, links, err
			}}
	})
	t.Run("GenericPlans", func(t *testing.T) { genericPlansScan(t, seen.list()) })
}
