package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The live channel across nodes: every node NOTIFYs the scope keys a commit
// touched on one channel, and every node LISTENs, so a phone connected to
// node A hears of a save that landed on node B. A notification carries only
// scope keys ("team:x", "svc:y"), never record content.

// LiveChannel is the Postgres notification channel of scope pokes.
const LiveChannel = "joinedup_live"

// poke tells every node's listeners that keys changed. It is best effort,
// after the commit: a lost poke only delays a phone to its next sync.
func (db *DB) poke(ctx context.Context, keys []string) {
	if len(keys) == 0 || db.pool == nil {
		return
	}
	if _, err := db.pool.Exec(context.WithoutCancel(ctx), `SELECT pg_notify($1, $2)`, LiveChannel, strings.Join(keys, " ")); err != nil {
		db.log().Warn("postgres: live poke not sent", "err", err)
	}
}

// Listen calls fn with the scope keys of every commit on any node, until ctx
// ends; it reconnects after a lost connection (pokes sent meanwhile are
// lost, which phones recover from at their next sync).
func (db *DB) Listen(ctx context.Context, fn func(keys []string)) error {
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, fn)
		if ctx.Err() != nil {
			break
		}
		db.log().Warn("postgres: live listener lost its connection; reconnecting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return ctx.Err()
}

func (db *DB) listenOnce(ctx context.Context, fn func(keys []string)) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{LiveChannel}.Sanitize()); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "UNLISTEN *")
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(strings.Fields(n.Payload))
	}
}
