package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

// Outbox is the push outbox and the phones' push tokens (tables of migration
// 0010). server/push's Deliverer drains it; the store itself writes the rows
// a rule asks for, in the transaction of the change that caused them
// (enqueueTx, cancelTx from applier.settle). It is safe for several processes
// sharing one SQLite file: claims are single atomic UPDATE statements and every
// completion checks that the caller still holds the lease. Times are Unix
// milliseconds (UTC).
type Outbox struct {
	db *DB
	// Now stamps created/last_seen/sent_at; nil means the store's clock.
	Now func() time.Time
}

var (
	_ domain.Outbox     = (*Outbox)(nil)
	_ domain.PushTokens = (*Outbox)(nil)
)

// Outbox returns the store's push outbox.
func (db *DB) Outbox() *Outbox { return &Outbox{db: db} }

func (s *Outbox) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return s.db.Now()
}

// Enqueue writes notifications to the outbox in a transaction of their own
// (tools and tests; a rule's notifications are written by the store in the
// transaction of the change that caused them). Enqueueing an id that already
// exists does nothing (the planner's ids are deterministic, so re-planning is
// idempotent).
func (s *Outbox) Enqueue(ctx context.Context, ns ...domain.Notification) error {
	for _, n := range ns {
		if err := n.Validate(); err != nil {
			return err
		}
	}
	return s.db.update(ctx, func(tx *Tx) error { return enqueueTx(ctx, tx, s.now(), ns...) })
}

// enqueueTx inserts validated notifications (domain.Notification.Validate)
// several to a statement.
func enqueueTx(ctx context.Context, tx *Tx, at time.Time, ns ...domain.Notification) error {
	return enqueueStatesTx(ctx, tx, at, ns, nil)
}

// enqueueStatesTx is enqueueTx storing ns[i] already cancelled where
// cancelled[i] (cancelled may be nil). Of two notifications with one id,
// the first is kept, as with two inserts in turn.
//
// A notification cancelled in the settle that planned it is still stored:
// its row keeps the id known, so the same id planned later is ignored
// rather than sent (the rules salt the ids they re-plan so that this does
// not happen, TestPropertyPlannedIDsAreNeverReused, but answers, syncs and
// concerns are not salted). They are few: 436 of the week push's 6,369
// rows; the other cancelled rows were cancelled by a later sync. Leaving
// them out measured no change in the push's CPU.
func enqueueStatesTx(ctx context.Context, tx *Tx, at time.Time, ns []domain.Notification, cancelled []bool) error {
	now := domain.UnixMS(at)
	rows := make([][]any, len(ns))
	for i, n := range ns {
		next := domain.UnixMS(n.NotBefore)
		if next == 0 {
			next = now
		}
		state := domain.StatePending
		if cancelled != nil && cancelled[i] {
			state = domain.StateCancelled
		}
		rows[i] = []any{n.ID, n.RecipientKind, n.RecipientID, n.Kind, n.RecordID, n.Urgent, domain.UnixMS(n.NotBefore), next, now, state}
	}
	if err := insertRows(ctx, tx, `INSERT INTO push_outbox
		(id, recipient_kind, recipient_id, kind, record_id, urgent, not_before, next_attempt, created, state) VALUES `,
		` ON CONFLICT(id) DO NOTHING`, rows); err != nil {
		return fmt.Errorf("push: enqueue %d notifications: %w", len(ns), err)
	}
	return nil
}

// Cancel marks the pending notifications about recordID of the given kinds (all kinds when
// none are given) cancelled, in a transaction of its own (see Enqueue). A notification
// already claimed by a sender may still go out once.
func (s *Outbox) Cancel(ctx context.Context, recordID string, kinds ...string) (n int, err error) {
	err = s.db.update(ctx, func(tx *Tx) (err error) { n, err = cancelTx(ctx, tx.Tx, recordID, kinds...); return err })
	return n, err
}

func cancelTx(ctx context.Context, tx *sql.Tx, recordID string, kinds ...string) (int, error) {
	q := `UPDATE push_outbox SET state = 'cancelled', lease_owner = NULL, lease_until = NULL
		WHERE record_id = ? AND state = 'pending'`
	args := []any{recordID}
	if len(kinds) > 0 {
		q += " AND kind IN (" + outboxPlaceholders(len(kinds)) + ")"
		for _, k := range kinds {
			args = append(args, k)
		}
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("push: cancel %s: %w", recordID, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// RegisterToken records (or refreshes) a device's FCM token. A device has one token: a new
// token replaces the device's old one; a token seen on another device moves to this one.
func (s *Outbox) RegisterToken(ctx context.Context, deviceID, personID, token, platform string) error {
	if !domain.OpaqueID(deviceID) || !domain.OpaqueID(personID) {
		return errors.New("push: register token: device and person ids must be opaque ids")
	}
	if token == "" || len(token) > 4096 {
		return errors.New("push: register token: token must be 1..4096 bytes")
	}
	now := domain.UnixMS(s.now())
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM push_tokens WHERE device_id = ? AND token <> ?`, deviceID, token); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO push_tokens
			(device_id, person_id, token, platform, last_seen, created) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(token) DO UPDATE SET device_id = excluded.device_id,
			person_id = excluded.person_id, platform = excluded.platform, last_seen = excluded.last_seen`,
			deviceID, personID, token, platform, now, now)
		return err
	})
}

// RemoveToken deletes one token (the app signed out, or FCM said it is gone).
func (s *Outbox) RemoveToken(ctx context.Context, token string) error {
	_, err := s.db.write.ExecContext(ctx, `DELETE FROM push_tokens WHERE token = ?`, token)
	if err != nil {
		return fmt.Errorf("push: remove token: %w", err)
	}
	return nil
}

// RemoveDeviceTokens deletes every token of a device at once: call it when the device is revoked.
func (s *Outbox) RemoveDeviceTokens(ctx context.Context, deviceID string) error {
	return s.withTx(ctx, func(tx *sql.Tx) error { return removeDeviceTokens(ctx, tx, deviceID) })
}

// removeDeviceTokens runs in the revocation's own transaction: a revoked phone is
// never woken again.
func removeDeviceTokens(ctx context.Context, tx *sql.Tx, deviceID string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM push_tokens WHERE device_id = ?`, deviceID); err != nil {
		return fmt.Errorf("push: remove tokens of device %s: %w", deviceID, err)
	}
	return nil
}

// PruneTokens deletes tokens not seen since before (FCM tokens of long-idle apps go stale).
func (s *Outbox) PruneTokens(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM push_tokens WHERE last_seen < ?`, domain.UnixMS(before))
	if err != nil {
		return 0, fmt.Errorf("push: prune tokens: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Claim leases up to limit due notifications to owner until now+lease and returns them, urgent
// ones first, then oldest due first (each an index range scan on push_outbox_due). It is
// one UPDATE ... RETURNING statement: SQLite takes the write lock before reading, so two
// processes on one file never claim the same row while a lease is live. A row whose owner died
// becomes claimable again once its lease has expired; attempts counts claims, so a message that
// kills its sender still ends up dead after MaxAttempts.
func (s *Outbox) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]domain.Claimed, error) {
	rows, err := s.db.write.QueryContext(ctx, `UPDATE push_outbox
		SET lease_owner = ?1, lease_until = ?2, attempts = attempts + 1
		WHERE id IN (
			SELECT id FROM (SELECT id FROM push_outbox
				WHERE state = 'pending' AND urgent = 1 AND next_attempt <= ?3
				AND (lease_until IS NULL OR lease_until < ?3) ORDER BY next_attempt LIMIT ?4)
			UNION ALL
			SELECT id FROM (SELECT id FROM push_outbox
				WHERE state = 'pending' AND urgent = 0 AND next_attempt <= ?3
				AND (lease_until IS NULL OR lease_until < ?3) ORDER BY next_attempt LIMIT ?4)
			LIMIT ?4)
		RETURNING id, recipient_kind, recipient_id, kind, record_id, urgent, not_before, attempts`,
		owner, domain.UnixMS(now.Add(lease)), domain.UnixMS(now), limit)
	if err != nil {
		return nil, fmt.Errorf("push: claim: %w", err)
	}
	defer rows.Close()
	var out []domain.Claimed
	for rows.Next() {
		var c domain.Claimed
		var nb int64
		if err := rows.Scan(&c.ID, &c.RecipientKind, &c.RecipientID, &c.Kind, &c.RecordID,
			&c.Urgent, &nb, &c.Attempts); err != nil {
			return nil, fmt.Errorf("push: claim: %w", err)
		}
		c.NotBefore = domain.FromUnixMS(nb)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("push: claim: %w", err)
	}
	return out, nil
}

// Targets returns, per claimed notification id, the tokens still to send to: the recipient's
// registered tokens (push_tokens.person_id holds the person id, or the service id for a
// service's shared device) minus tokens an earlier attempt already delivered to.
func (s *Outbox) Targets(ctx context.Context, cs []domain.Claimed) (map[string]domain.DeliveryTarget, error) {
	out := make(map[string]domain.DeliveryTarget, len(cs))
	if len(cs) == 0 {
		return out, nil
	}
	const chunk = 500
	byRecipient := map[string][]string{}
	var recipients []any
	for _, c := range cs {
		if _, ok := byRecipient[c.RecipientID]; !ok {
			byRecipient[c.RecipientID] = nil
			recipients = append(recipients, c.RecipientID)
		}
	}
	for i := 0; i < len(recipients); i += chunk {
		part := recipients[i:min(i+chunk, len(recipients))]
		rows, err := s.db.write.QueryContext(ctx, `SELECT person_id, token FROM push_tokens
			WHERE person_id IN (`+outboxPlaceholders(len(part))+`) ORDER BY person_id, token`, part...)
		if err != nil {
			return nil, fmt.Errorf("push: targets: %w", err)
		}
		for rows.Next() {
			var p, tok string
			if err := rows.Scan(&p, &tok); err != nil {
				rows.Close()
				return nil, fmt.Errorf("push: targets: %w", err)
			}
			byRecipient[p] = append(byRecipient[p], tok)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("push: targets: %w", err)
		}
	}
	// Only a retried notification can have earlier deliveries.
	done := map[string]map[string]bool{}
	var retried []any
	for _, c := range cs {
		if c.Attempts > 1 {
			retried = append(retried, c.ID)
		}
	}
	for i := 0; i < len(retried); i += chunk {
		part := retried[i:min(i+chunk, len(retried))]
		rows, err := s.db.write.QueryContext(ctx, `SELECT outbox_id, token FROM push_deliveries
			WHERE status = 'sent' AND outbox_id IN (`+outboxPlaceholders(len(part))+`)`, part...)
		if err != nil {
			return nil, fmt.Errorf("push: targets: %w", err)
		}
		for rows.Next() {
			var id, tok string
			if err := rows.Scan(&id, &tok); err != nil {
				rows.Close()
				return nil, fmt.Errorf("push: targets: %w", err)
			}
			if done[id] == nil {
				done[id] = map[string]bool{}
			}
			done[id][tok] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("push: targets: %w", err)
		}
	}
	langs, err := s.recipientLangs(ctx, recipients)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		t := domain.DeliveryTarget{Delivered: len(done[c.ID]), Lang: langs[c.RecipientID]}
		for _, tok := range byRecipient[c.RecipientID] {
			if !done[c.ID][tok] {
				t.Tokens = append(t.Tokens, tok)
			}
		}
		out[c.ID] = t
	}
	return out, nil
}

// Complete records the outcomes of one batch in one transaction. An outcome for a row whose
// lease owner is no longer owner (its lease expired and another sender took it) does not
// change the row, but its deliveries and token removals are still recorded: they are facts.
func (s *Outbox) Complete(ctx context.Context, owner string, outcomes []domain.Outcome) error {
	now := domain.UnixMS(s.now())
	return s.withTx(ctx, func(tx *sql.Tx) error {
		sent, err := tx.PrepareContext(ctx, `UPDATE push_outbox SET state = 'sent', sent_at = ?,
			lease_owner = NULL, lease_until = NULL, last_error = ''
			WHERE id = ? AND lease_owner = ? AND state = 'pending'`)
		if err != nil {
			return err
		}
		defer sent.Close()
		other, err := tx.PrepareContext(ctx, `UPDATE push_outbox SET state = ?, next_attempt = ?,
			last_error = ?, lease_owner = NULL, lease_until = NULL
			WHERE id = ? AND lease_owner = ? AND state = 'pending'`)
		if err != nil {
			return err
		}
		defer other.Close()
		deliv, err := tx.PrepareContext(ctx, `INSERT INTO push_deliveries
			(outbox_id, token, message_id, status, at) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer deliv.Close()
		rm, err := tx.PrepareContext(ctx, `DELETE FROM push_tokens WHERE token = ?`)
		if err != nil {
			return err
		}
		defer rm.Close()
		for _, o := range outcomes {
			switch o.State {
			case domain.StateSent:
				_, err = sent.ExecContext(ctx, now, o.ID, owner)
			case domain.StatePending, domain.StateDead:
				_, err = other.ExecContext(ctx, o.State, domain.UnixMS(o.NextAttempt), truncate(o.Error, 500), o.ID, owner)
			default:
				err = fmt.Errorf("unknown outcome state %q", o.State)
			}
			if err != nil {
				return fmt.Errorf("complete %s: %w", o.ID, err)
			}
			for _, d := range o.Deliveries {
				if _, err := deliv.ExecContext(ctx, o.ID, d.Token, d.MessageID, d.Status, now); err != nil {
					return fmt.Errorf("complete %s: %w", o.ID, err)
				}
			}
			for _, t := range o.RemoveTokens {
				if _, err := rm.ExecContext(ctx, t); err != nil {
					return fmt.Errorf("complete %s: %w", o.ID, err)
				}
			}
		}
		return nil
	})
}

// MarkSent marks one claimed notification sent.
func (s *Outbox) MarkSent(ctx context.Context, owner, id string) error {
	return s.Complete(ctx, owner, []domain.Outcome{{ID: id, State: domain.StateSent}})
}

// MarkRetry releases one claimed notification to be tried again at next.
func (s *Outbox) MarkRetry(ctx context.Context, owner, id string, next time.Time, reason string) error {
	return s.Complete(ctx, owner, []domain.Outcome{{ID: id, State: domain.StatePending, NextAttempt: next, Error: reason}})
}

// MarkDead gives up on one claimed notification.
func (s *Outbox) MarkDead(ctx context.Context, owner, id string, reason string) error {
	return s.Complete(ctx, owner, []domain.Outcome{{ID: id, State: domain.StateDead, Error: reason}})
}

// Counts returns the number of outbox rows per state (for health pages and tests).
func (s *Outbox) Counts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.write.QueryContext(ctx, `SELECT state, count(*) FROM push_outbox GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("push: counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("push: counts: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// Purge deletes finished (sent, dead, cancelled) notifications created before before, with
// their delivery records.
func (s *Outbox) Purge(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM push_deliveries WHERE outbox_id IN
			(SELECT id FROM push_outbox WHERE state <> 'pending' AND created < ?)`, domain.UnixMS(before)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM push_outbox WHERE state <> 'pending' AND created < ?`, domain.UnixMS(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

func (s *Outbox) withTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("push: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return fmt.Errorf("push: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("push: commit: %w", err)
	}
	return nil
}

func outboxPlaceholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
