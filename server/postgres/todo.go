package postgres

import (
	"context"

	"github.com/joinedup/joinedup/server/domain"
)

// Features of server/sqlite not yet carried over to Postgres answer a clear
// error rather than pretending: the server starts, and the one page or call
// that needs them says so.

func unsupported(op string) error {
	return domain.Errorf(domain.EINVALID, op, "%s is not supported on the Postgres store yet", op)
}

func (db *DB) AccessHistory(ctx context.Context, ids []string) ([]domain.Access, error) {
	return nil, unsupported("access history")
}
func (db *DB) Erase(ctx context.Context, req domain.ErasureRequest) (domain.ErasureResult, error) {
	return domain.ErasureResult{}, unsupported("erasure")
}
func (db *DB) LiftLegalHold(ctx context.Context, recordID, by string) error {
	return unsupported("legal hold")
}
func (db *DB) PlaceLegalHold(ctx context.Context, h domain.LegalHold) error {
	return unsupported("legal hold")
}
func (db *DB) PurgeNotices(ctx context.Context, ids []string) ([]domain.PurgeNotice, error) {
	return nil, unsupported("purge notices")
}
func (db *DB) RetentionPreview(ctx context.Context) (domain.RetentionPlan, error) {
	return domain.RetentionPlan{}, unsupported("retention")
}
func (db *DB) RetentionRules(ctx context.Context) ([]domain.RetentionRule, error) {
	return nil, unsupported("retention")
}
func (db *DB) RetentionRuns(ctx context.Context, limit int) ([]domain.RetentionRun, error) {
	return nil, unsupported("retention")
}
func (db *DB) RunRetention(ctx context.Context) (domain.RetentionRun, error) {
	return domain.RetentionRun{}, unsupported("retention")
}
func (db *DB) RunRetentionIfDue(ctx context.Context) (bool, domain.RetentionRun, error) {
	return false, domain.RetentionRun{}, unsupported("retention")
}
func (db *DB) SetRetentionRule(ctx context.Context, rule domain.RetentionRule, by string) error {
	return unsupported("retention")
}
func (db *DB) VerifyAudit(ctx context.Context) (domain.AuditVerify, error) {
	return domain.AuditVerify{}, unsupported("audit verification")
}
func (db *DB) YoungPersonRecords(ctx context.Context, ypID string) ([]string, error) {
	return nil, unsupported("young person's records")
}
