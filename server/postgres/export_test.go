package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
)

// PullSQL exposes the pull's queries for a scope to the plan test.
func PullSQL(s domain.Scope) (logPage, snapshot string, arg any) {
	f4, arg := scopeFilter(s, 4)
	f5, _ := scopeFilter(s, 5)
	return logPageSQL(f4), snapshotSQL(f5), arg
}

// AccessHistorySQL is the access history's query (for its plan test).
const AccessHistorySQL = accessHistorySQL

// SetTracer has db's connections report every statement to t (set before
// Open).
func SetTracer(db *DB, t pgx.QueryTracer) { db.tracer = t }

// KeyListSQL are the push's and the pull's statements driven by keys (for
// the test of their generic plans).
var KeyListSQL = map[string]string{"logged keys": loggedKeysSQL, "open quarantine": openQuarantineSQL,
	"pending notifications": pendingRecordsSQL, "cancel notifications": cancelPendingSQL,
	"held items woken": heldWokenSQL, "records updated": updateRecordsSQL, "pull positions": positionsSQL,
	"scope moves": scopeMovesSQL, "record history": recordHistorySQL, "records' history": recordsHistorySQL,
	"holders of erased records": holdersSQL, "search rows removed": unindexSQL}

// StopSealer stops db's background sealer, so a test sees which audit rows
// were chained when written (VerifyAudit still seals the rest).
func StopSealer(db *DB) {
	if db.stopSealer != nil {
		db.stopSealer()
		db.stopSealer = nil
	}
}

// BackfillQuarantineRefs runs the Open-time backfill of migration 0260.
func BackfillQuarantineRefs(ctx context.Context, db *DB) error { return db.backfillQuarantineRefs(ctx) }

// QuarantineListSQL is a page of a reviewer's quarantine list (its plan test).
func QuarantineListSQL(s domain.Scope) (string, any) { return quarantineListSQL(&s) }
