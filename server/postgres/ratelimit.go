package postgres

import (
	"context"
	"crypto/sha256"
	"time"
)

// TakeToken takes a token from key's bucket (refilled at rate per second up
// to burst), reporting false when it is empty: the API's rate limits, kept
// in the database so a client spreading requests over several nodes gets
// the rate once, not once per node. One statement: the upsert locks the
// bucket's row, so concurrent requests on different nodes take turns.
func (db *DB) TakeToken(ctx context.Context, key string, rate float64, burst int, now time.Time) (bool, error) {
	h := sha256.Sum256([]byte(key))
	var ok bool
	err := db.pool.QueryRow(ctx, `INSERT INTO rate_buckets AS b (key_hash, tokens, at, ok) VALUES ($1, $3::float8 - 1, $2, $3::float8 >= 1)
		ON CONFLICT (key_hash) DO UPDATE SET
			ok = LEAST($3::float8, b.tokens + GREATEST(0, EXTRACT(EPOCH FROM ($2 - b.at)))::float8 * $4::float8) >= 1,
			tokens = LEAST($3::float8, b.tokens + GREATEST(0, EXTRACT(EPOCH FROM ($2 - b.at)))::float8 * $4::float8)
				- CASE WHEN LEAST($3::float8, b.tokens + GREATEST(0, EXTRACT(EPOCH FROM ($2 - b.at)))::float8 * $4::float8) >= 1 THEN 1 ELSE 0 END,
			at = GREATEST(b.at, $2)
		RETURNING ok`, h[:], now, float64(burst), rate).Scan(&ok)
	if err != nil {
		return false, err
	}
	// Now and then, forget buckets idle long enough to be full again.
	if db.rateCalls.Add(1)%500 == 0 {
		_, _ = db.pool.Exec(ctx, `DELETE FROM rate_buckets WHERE at < $1`, now.Add(-10*time.Minute))
	}
	return ok, nil
}
