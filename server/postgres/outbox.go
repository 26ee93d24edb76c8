package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
)

// Outbox is the push outbox and token registry on Postgres. Claims take
// rows with FOR UPDATE SKIP LOCKED, so senders on every node share the work
// and never hold the same notification.
type Outbox struct {
	db  *DB
	Now func() time.Time
}

var (
	_ domain.Outbox     = (*Outbox)(nil)
	_ domain.PushTokens = (*Outbox)(nil)
)

// Outbox returns the store's outbox.
func (db *DB) Outbox() *Outbox { return &Outbox{db: db} }

func (s *Outbox) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return s.db.Now()
}

// Enqueue adds notifications; a known id is ignored.
func (s *Outbox) Enqueue(ctx context.Context, ns ...domain.Notification) error {
	return s.db.update(ctx, func(tx *Tx) error { return enqueueTx(ctx, tx, s.now(), ns...) })
}

func enqueueTx(ctx context.Context, tx *Tx, at time.Time, ns ...domain.Notification) error {
	for _, n := range ns {
		if err := n.Validate(); err != nil {
			return err
		}
	}
	b := &pgx.Batch{}
	queueEnqueue(b, at, ns, nil)
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("push: enqueue %d notifications: %w", len(ns), err)
	}
	return nil
}

// queueEnqueue queues the insert of ns, in one statement, ns[i] stored
// already cancelled where cancelled[i] (cancelled may be nil). Of two
// notifications with one id, the first is kept, as with two inserts in
// turn.
func queueEnqueue(b *pgx.Batch, at time.Time, ns []domain.Notification, cancelled []bool) {
	if len(ns) == 0 {
		return
	}
	now := domain.UnixMS(at)
	var ids, recipientKinds, recipients, kinds, records, states []string
	var urgent []bool
	var notBefore, next, created []int64
	for i, n := range ns {
		nb := domain.UnixMS(n.NotBefore)
		state := domain.StatePending
		if cancelled != nil && cancelled[i] {
			state = domain.StateCancelled
		}
		ids, recipientKinds, recipients = append(ids, n.ID), append(recipientKinds, n.RecipientKind), append(recipients, n.RecipientID)
		kinds, records, states = append(kinds, n.Kind), append(records, n.RecordID), append(states, state)
		urgent, notBefore, next, created = append(urgent, n.Urgent), append(notBefore, nb), append(next, cmp.Or(nb, now)), append(created, now)
	}
	b.Queue(`INSERT INTO push_outbox (id, recipient_kind, recipient_id, kind, record_id, urgent, not_before, next_attempt, created, state)
		SELECT id, recipient_kind, recipient_id, kind, record_id, urgent, not_before, next_attempt, created, state
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[])
			WITH ORDINALITY AS n (id, recipient_kind, recipient_id, kind, record_id, urgent, not_before, next_attempt, created, state, i)
		ORDER BY i
		ON CONFLICT (id) DO NOTHING`, ids, recipientKinds, recipients, kinds, records, urgent, notBefore, next, created, states)
}

// Cancel cancels a record's pending notifications (of kinds, if given).
func (s *Outbox) Cancel(ctx context.Context, recordID string, kinds ...string) (n int, err error) {
	err = s.db.update(ctx, func(tx *Tx) (err error) { n, err = cancelTx(ctx, tx, recordID, kinds...); return err })
	return n, err
}

func cancelTx(ctx context.Context, tx *Tx, recordID string, kinds ...string) (int, error) {
	tag, err := tx.Exec(ctx, `UPDATE push_outbox SET state = 'cancelled', lease_owner = NULL, lease_until = NULL
		WHERE record_id = $1 AND state = 'pending' AND (cardinality($2::text[]) = 0 OR kind = ANY($2))`, recordID, append([]string{}, kinds...))
	if err != nil {
		return 0, fmt.Errorf("push: cancel %s: %w", recordID, err)
	}
	return int(tag.RowsAffected()), nil
}

// RegisterToken binds a push token to a device and its person.
func (s *Outbox) RegisterToken(ctx context.Context, deviceID, personID, token, platform string) error {
	if !domain.OpaqueID(deviceID) || !domain.OpaqueID(personID) {
		return errors.New("push: register token: device and person ids must be opaque ids")
	}
	if token == "" || len(token) > 4096 {
		return errors.New("push: register token: token must be 1..4096 bytes")
	}
	now := domain.UnixMS(s.now())
	return s.db.update(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM push_tokens WHERE device_id = $1 AND token <> $2`, deviceID, token); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO push_tokens (device_id, person_id, token, platform, last_seen, created) VALUES ($1, $2, $3, $4, $5, $5)
			ON CONFLICT (token) DO UPDATE SET device_id = excluded.device_id,
			person_id = excluded.person_id, platform = excluded.platform, last_seen = excluded.last_seen`,
			deviceID, personID, token, platform, now)
		return err
	})
}

// RemoveToken forgets a token.
func (s *Outbox) RemoveToken(ctx context.Context, token string) error {
	if _, err := s.db.pool.Exec(ctx, `DELETE FROM push_tokens WHERE token = $1`, token); err != nil {
		return fmt.Errorf("push: remove token: %w", err)
	}
	return nil
}

// RemoveDeviceTokens forgets every token of a device (it was revoked).
func (s *Outbox) RemoveDeviceTokens(ctx context.Context, deviceID string) error {
	if _, err := s.db.pool.Exec(ctx, `DELETE FROM push_tokens WHERE device_id = $1`, deviceID); err != nil {
		return fmt.Errorf("push: remove tokens of device %s: %w", deviceID, err)
	}
	return nil
}

// Claim leases up to limit due notifications to owner, urgent ones first.
// Rows another sender is claiming right now are skipped, not waited for.
func (s *Outbox) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]domain.Claimed, error) {
	rows, err := s.db.pool.Query(ctx, `UPDATE push_outbox o
		SET lease_owner = $1, lease_until = $2, attempts = o.attempts + 1
		FROM (SELECT id FROM push_outbox
			WHERE state = 'pending' AND next_attempt <= $3 AND (lease_until IS NULL OR lease_until < $3)
			ORDER BY urgent DESC, next_attempt LIMIT $4 FOR UPDATE SKIP LOCKED) due
		WHERE o.id = due.id
		RETURNING o.id, o.recipient_kind, o.recipient_id, o.kind, o.record_id, o.urgent, o.not_before, o.attempts`,
		owner, domain.UnixMS(now.Add(lease)), domain.UnixMS(now), limit)
	out, err := collect(rows, err, func(r pgx.Rows) (c domain.Claimed, err error) {
		var nb int64
		err = r.Scan(&c.ID, &c.RecipientKind, &c.RecipientID, &c.Kind, &c.RecordID, &c.Urgent, &nb, &c.Attempts)
		c.NotBefore = domain.FromUnixMS(nb)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("push: claim: %w", err)
	}
	return out, nil
}

// Targets finds each claimed notification's tokens not yet delivered to.
func (s *Outbox) Targets(ctx context.Context, cs []domain.Claimed) (map[string]domain.DeliveryTarget, error) {
	out := make(map[string]domain.DeliveryTarget, len(cs))
	if len(cs) == 0 {
		return out, nil
	}
	var recipients, ids []string
	for _, c := range cs {
		recipients = append(recipients, c.RecipientID)
		ids = append(ids, c.ID)
	}
	type pair struct{ a, b string }
	scan := func(r pgx.Rows) (p pair, err error) { return p, r.Scan(&p.a, &p.b) }
	rows, err := s.db.pool.Query(ctx, `SELECT person_id, token FROM push_tokens WHERE person_id = ANY($1) ORDER BY person_id, token`, recipients)
	toks, err := collect(rows, err, scan)
	if err != nil {
		return nil, fmt.Errorf("push: targets: %w", err)
	}
	rows, err = s.db.pool.Query(ctx, `SELECT outbox_id, token FROM push_deliveries WHERE status = 'sent' AND outbox_id = ANY($1)`, ids)
	sent, err := collect(rows, err, scan)
	if err != nil {
		return nil, fmt.Errorf("push: targets: %w", err)
	}
	done := map[pair]bool{}
	delivered := map[string]int{}
	for _, p := range sent {
		if !done[p] {
			done[p] = true
			delivered[p.a]++
		}
	}
	rows, err = s.db.pool.Query(ctx, `SELECT id, lang FROM people WHERE id = ANY($1) AND lang <> ''`, recipients)
	langs, err := collect(rows, err, scan)
	if err != nil {
		return nil, fmt.Errorf("push: targets: %w", err)
	}
	lang := map[string]string{}
	for _, p := range langs {
		lang[p.a] = p.b
	}
	for _, c := range cs {
		t := domain.DeliveryTarget{Delivered: delivered[c.ID], Lang: lang[c.RecipientID]}
		for _, p := range toks {
			if p.a == c.RecipientID && !done[pair{c.ID, p.b}] {
				t.Tokens = append(t.Tokens, p.b)
			}
		}
		out[c.ID] = t
	}
	return out, nil
}

// Complete records outcomes of owner's claims; rows whose lease owner has
// changed (the lease ran out and another sender took them) are left alone.
func (s *Outbox) Complete(ctx context.Context, owner string, outcomes []domain.Outcome) error {
	now := domain.UnixMS(s.now())
	return s.db.update(ctx, func(tx *Tx) error {
		for _, o := range outcomes {
			var err error
			switch o.State {
			case domain.StateSent:
				_, err = tx.Exec(ctx, `UPDATE push_outbox SET state = 'sent', sent_at = $1, lease_owner = NULL, lease_until = NULL, last_error = ''
					WHERE id = $2 AND lease_owner = $3 AND state = 'pending'`, now, o.ID, owner)
			case domain.StatePending, domain.StateDead:
				reason := o.Error
				if len(reason) > 500 {
					reason = reason[:500]
				}
				_, err = tx.Exec(ctx, `UPDATE push_outbox SET state = $1, next_attempt = $2, last_error = $3, lease_owner = NULL, lease_until = NULL
					WHERE id = $4 AND lease_owner = $5 AND state = 'pending'`, o.State, domain.UnixMS(o.NextAttempt), reason, o.ID, owner)
			default:
				err = fmt.Errorf("unknown outcome state %q", o.State)
			}
			if err != nil {
				return fmt.Errorf("push: complete %s: %w", o.ID, err)
			}
			for _, d := range o.Deliveries {
				if _, err := tx.Exec(ctx, `INSERT INTO push_deliveries (outbox_id, token, message_id, status, at) VALUES ($1, $2, $3, $4, $5)`,
					o.ID, d.Token, d.MessageID, d.Status, now); err != nil {
					return fmt.Errorf("push: complete %s: %w", o.ID, err)
				}
			}
			for _, t := range o.RemoveTokens {
				if _, err := tx.Exec(ctx, `DELETE FROM push_tokens WHERE token = $1`, t); err != nil {
					return fmt.Errorf("push: complete %s: %w", o.ID, err)
				}
			}
		}
		return nil
	})
}

// Counts counts notifications by state.
func (s *Outbox) Counts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT state, count(*) FROM push_outbox GROUP BY state`)
	type kv struct {
		k string
		n int
	}
	all, err := collect(rows, err, func(r pgx.Rows) (x kv, err error) { return x, r.Scan(&x.k, &x.n) })
	if err != nil {
		return nil, fmt.Errorf("push: counts: %w", err)
	}
	out := map[string]int{}
	for _, x := range all {
		out[x.k] = x.n
	}
	return out, nil
}
