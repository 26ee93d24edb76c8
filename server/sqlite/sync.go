package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/joinedup/joinedup/syncengine"
)

// Push result statuses.
const (
	StatusAccepted    = "accepted"
	StatusDuplicate   = "duplicate"
	StatusQuarantined = "quarantined"
)

// SyncRequest is one device round trip: changesets to push, then a pull.
type SyncRequest struct {
	Device     Device
	Person     Person
	Changesets []*syncengine.Changeset
	Cursor     string
	Pending    int64 // changesets the device holds that it could not apply yet
	PageBytes  int   // pull budget; at least one changeset or record is always sent
	NoPull     bool
}

// PushResult is the outcome for one pushed changeset.
type PushResult struct {
	Replica string `json:"replica"`
	Start   uint64 `json:"start"`
	Status  string `json:"status"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Seq     int64  `json:"seq,omitempty"`
}

// SyncResult is what the server sends back.
type SyncResult struct {
	Results    []PushResult `json:"results"`
	Changesets [][]byte     `json:"-"` // JUC frames, in log order
	Snapshots  [][]byte     `json:"-"` // JUS frames
	Drop       []string     `json:"drop"`
	Reset      bool         `json:"reset"` // drop everything received from the server before applying
	Cursor     string       `json:"cursor"`
	More       bool         `json:"more"`

	// For metrics and the live channel; not sent.
	Accepted, Duplicates, Quarantined, Conflicts int      `json:"-"`
	Touched                                      []string `json:"-"` // scope keys ("team:x", "svc:y") changed by accepted pushes
}

// DefaultPageBytes is the pull page budget when the device does not ask.
const DefaultPageBytes = 1 << 20

// Sync applies the pushed changesets, each atomically and exactly once, then
// reads the next pull page, all in one write transaction so the audit, log,
// records and device row always agree.
func (db *DB) Sync(ctx context.Context, req SyncRequest) (*SyncResult, error) {
	res := &SyncResult{Drop: []string{}, Results: []PushResult{}}
	err := db.update(ctx, func(tx *Tx) error {
		scope, err := scopeOf(ctx, tx, req.Person)
		if err != nil {
			return err
		}
		ap := &applier{ctx: ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}}
		for _, cs := range req.Changesets {
			pr, err := ap.push(req.Device, scope, cs, res)
			if err != nil {
				return fmt.Errorf("push %s/%d: %w", cs.Replica, cs.Start, err)
			}
			res.Results = append(res.Results, pr)
		}
		if res.Accepted > 0 {
			if err := ap.retryHeld(); err != nil {
				return fmt.Errorf("retry held changesets: %w", err)
			}
		}
		if !req.NoPull {
			if err := pull(ctx, tx, req, scope, res); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE devices SET last_seen = ?, last_sync_at = ?, last_cursor = ?, pending_reported = ? WHERE id = ?`,
			tx.NowText(), tx.NowText(), cursorSeq(req.Cursor), req.Pending, req.Device.ID)
		if err != nil {
			return err
		}
		if len(res.Results) > 0 || len(res.Changesets) > 0 || len(res.Snapshots) > 0 {
			return appendAudit(ctx, tx, AuditEntry{PersonID: req.Person.ID, DeviceID: req.Device.ID, Action: "sync",
				Detail: map[string]any{"pushed": len(res.Results), "accepted": res.Accepted, "quarantined": res.Quarantined,
					"changesets_sent": len(res.Changesets), "snapshots_sent": len(res.Snapshots), "drop": len(res.Drop)}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

type cachedRecord struct {
	rec               *syncengine.Record // nil: does not exist
	team, service, yp string
	exists            bool
}

type applier struct {
	ctx   context.Context
	tx    *Tx
	cache map[syncengine.RecordID]*cachedRecord
}

func (a *applier) get(id syncengine.RecordID) (*cachedRecord, error) {
	if c, ok := a.cache[id]; ok {
		return c, nil
	}
	c := &cachedRecord{}
	var state []byte
	err := a.tx.QueryRowContext(a.ctx, `SELECT state, COALESCE(team_id, ''), COALESCE(service_id, ''), COALESCE(young_person_id, '') FROM records WHERE id = ?`,
		string(id)).Scan(&state, &c.team, &c.service, &c.yp)
	if errors.Is(err, sql.ErrNoRows) {
		a.cache[id] = c
		return c, nil
	} else if err != nil {
		return nil, err
	}
	if c.rec, err = syncengine.DecodeRecord(state); err != nil {
		return nil, fmt.Errorf("stored record %s: %w", id, err)
	}
	c.exists = true
	a.cache[id] = c
	return c, nil
}

func (a *applier) getter(id syncengine.RecordID) (*syncengine.Record, error) {
	c, err := a.get(id)
	if err != nil {
		return nil, err
	}
	return c.rec, nil
}

// scopeCols derives the scope columns of a record state. Erased records have
// lost their fields, so they keep the columns they had.
func scopeCols(r *syncengine.Record, prev *cachedRecord) (team, service, yp string) {
	if r.Erased != nil && prev != nil {
		return prev.team, prev.service, prev.yp
	}
	team = r.String("team_id")
	if r.Type == syncengine.TypeReferral && r.String("status") != "draft" {
		service = r.String("service_id")
	}
	switch r.Type {
	case syncengine.TypeReferral, syncengine.TypeFollowUp:
		yp = r.String("young_person_id")
	case syncengine.TypeYoungPerson:
		yp = string(r.ID)
	}
	return team, service, yp
}

func forbidden(format string, args ...any) error {
	return Errorf(EFORBIDDEN, "authorise changeset", format, args...)
}

// authorise decides whether the device may push cs, given the touched
// records before and after it.
func authorise(dev Device, scope Scope, cs *syncengine.Changeset, before map[syncengine.RecordID]*cachedRecord, after []*syncengine.Record) error {
	if dev.ReplicaID != "" && cs.Replica.String() != dev.ReplicaID {
		return forbidden("changeset belongs to another replica")
	}
	if cs.Author != scope.PersonID {
		return forbidden("changeset author is not the device's owner")
	}
	privileged := scope.Role == RoleSupervisor || scope.Role == RoleAdmin
	for _, op := range cs.Ops {
		switch {
		case op.Kind == syncengine.OpErase && !privileged:
			return forbidden("only a supervisor may erase a record")
		case op.Kind == syncengine.OpSet && op.Field == syncengine.DeletedField && string(op.Value) == "false" && !privileged:
			return forbidden("only a supervisor may restore a deleted record")
		}
	}
	if scope.Practitioner() {
		for _, op := range cs.Ops {
			if op.Kind != syncengine.OpSet || !slices.Contains([]string{"status", "outcome", "decline_reason"}, op.Field) {
				return forbidden("a service may only change a referral's status, outcome and decline reason")
			}
		}
		for _, r := range after {
			b := before[r.ID]
			if !b.exists || b.rec.Type != syncengine.TypeReferral || b.service != scope.ServiceID {
				return forbidden("record %s is not a referral addressed to this service", r.ID)
			}
		}
		return nil
	}
	for _, r := range after {
		b := before[r.ID]
		if b.exists {
			if !scope.HasTeam(b.team) {
				return forbidden("record %s belongs to a team outside this device's scope", r.ID)
			}
			continue // moving a record in scope to another team is a handover, allowed
		}
		team, _, _ := scopeCols(r, nil)
		if !scope.HasTeam(team) {
			return forbidden("new record %s is for a team outside this device's scope", r.ID)
		}
	}
	return nil
}

// push applies one changeset inside the sync transaction. Application
// failures (validation, authorisation) quarantine it; only storage failures
// return an error.
func (a *applier) push(dev Device, scope Scope, cs *syncengine.Changeset, res *SyncResult) (PushResult, error) {
	pr := PushResult{Replica: cs.Replica.String(), Start: cs.Start}
	// The log is the first line of exactly-once: a retried changeset is found
	// here even if its records were since erased or moved.
	var seq int64
	err := a.tx.QueryRowContext(a.ctx, `SELECT seq FROM changesets WHERE replica_id = ? AND start = ?`, pr.Replica, cs.Start).Scan(&seq)
	if err == nil {
		pr.Status, pr.Seq = StatusDuplicate, seq
		res.Duplicates++
		return pr, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return pr, err
	}
	var qcode, qmsg string
	err = a.tx.QueryRowContext(a.ctx, `SELECT code, message FROM quarantine WHERE replica_id = ? AND start = ? AND reviewed_at IS NULL`, pr.Replica, cs.Start).Scan(&qcode, &qmsg)
	held := err == nil && qcode == syncengine.EMISSINGDEP
	if err == nil && !held {
		pr.Status, pr.Code, pr.Message = StatusQuarantined, qcode, qmsg
		res.Quarantined++
		return pr, nil
	} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return pr, err
	}
	// A changeset held only for a missing dependency is tried again: what it
	// depends on may have arrived since (after a restore from backup, phones
	// re-send their work in no particular order).

	applied, err := syncengine.Apply(cs, a.getter)
	if err != nil {
		return a.quarantine(dev, cs, pr, err, res)
	}
	switch applied.Status {
	case syncengine.Duplicate:
		pr.Status = StatusDuplicate
		res.Duplicates++
		return pr, nil
	case syncengine.Pending:
		return a.quarantine(dev, cs, pr, Errorf(syncengine.EMISSINGDEP, "apply changeset",
			"changeset depends on changes the server does not have (%d records)", len(applied.Missing)), res)
	}
	before := map[syncengine.RecordID]*cachedRecord{}
	beforeRecs := map[syncengine.RecordID]*syncengine.Record{}
	for _, d := range cs.Deps {
		c, err := a.get(d.Record)
		if err != nil {
			return pr, err
		}
		before[d.Record] = c
		beforeRecs[d.Record] = c.rec
	}
	if err := authorise(dev, scope, cs, before, applied.Records); err != nil {
		return a.quarantine(dev, cs, pr, err, res)
	}
	if err := syncengine.CheckChangeset(cs, beforeRecs, applied.Records); err != nil {
		return a.quarantine(dev, cs, pr, err, res)
	}
	seq, err = a.commit(dev.ID, cs, applied.Records, res)
	if err != nil {
		return pr, err
	}
	if held {
		if _, err := a.tx.ExecContext(a.ctx, `UPDATE quarantine SET reviewed_by = 'server', reviewed_at = ?, resolution = ?
			WHERE replica_id = ? AND start = ? AND reviewed_at IS NULL`, a.tx.NowText(), ResolutionRelease, pr.Replica, cs.Start); err != nil {
			return pr, err
		}
		if err := a.resendReleased(seq, cs); err != nil {
			return pr, err
		}
	}
	pr.Status, pr.Seq = StatusAccepted, seq
	res.Accepted++
	return pr, nil
}

// resendReleased makes devices fetch fresh snapshots of the records a
// released changeset touched. Its author's phone dropped the change when it
// was quarantined, and pull never echoes a phone's own changesets, so without
// this the author would never see its own released work. A scope event whose
// team does not change is exactly that signal: "this record entered your
// scope again".
func (a *applier) resendReleased(seq int64, cs *syncengine.Changeset) error {
	for _, d := range cs.Deps {
		c, err := a.get(d.Record)
		if err != nil {
			return err
		}
		key := nullString(scopeKey(c.team, c.service))
		if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO scope_events (seq, record_id, from_team, to_team, at) VALUES (?, ?, ?, ?, ?)`,
			seq, string(d.Record), key, key, a.tx.NowText()); err != nil {
			return err
		}
	}
	return nil
}

// retryHeld tries again every changeset held in quarantine for a missing
// dependency, as its own device, until none moves: the pushes just accepted
// may be what they were waiting for.
func (a *applier) retryHeld() error {
	for {
		type item struct {
			device string
			body   []byte
		}
		rows, err := a.tx.QueryContext(a.ctx, `SELECT COALESCE(device_id, ''), body FROM quarantine
			WHERE reviewed_at IS NULL AND code = ? ORDER BY id`, syncengine.EMISSINGDEP)
		items, err := collect(rows, err, func(r *sql.Rows) (it item, err error) { return it, r.Scan(&it.device, &it.body) })
		if err != nil {
			return err
		}
		moved := false
		for _, it := range items {
			cs, err := syncengine.DecodeChangeset(it.body)
			if err != nil || it.device == "" {
				continue // reviewed by a person instead
			}
			dev, err := scanDevice(a.tx.QueryRowContext(a.ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, it.device))
			if err != nil || dev.Status != "active" {
				continue
			}
			person, err := findPerson(a.ctx, a.tx, "id = ?", dev.PersonID)
			if err != nil {
				return err
			}
			scope, err := scopeOf(a.ctx, a.tx, person)
			if err != nil {
				return err
			}
			var res SyncResult
			pr, err := a.push(dev, scope, cs, &res)
			if err != nil {
				return err
			}
			moved = moved || pr.Status == StatusAccepted
		}
		if !moved {
			return nil
		}
	}
}

// quarantine keeps a refused changeset with its reason, for review.
func (a *applier) quarantine(dev Device, cs *syncengine.Changeset, pr PushResult, cause error, res *SyncResult) (PushResult, error) {
	code := syncengine.ErrorCode(cause)
	if code == syncengine.EINTERNAL {
		return pr, cause
	}
	msg := syncengine.ErrorMessage(cause)
	if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO quarantine (device_id, replica_id, start, code, message, body, created)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (replica_id, start) DO UPDATE SET code = excluded.code, message = excluded.message, body = excluded.body,
			created = excluded.created, reviewed_by = NULL, reviewed_at = NULL, resolution = NULL`,
		nullString(dev.ID), pr.Replica, cs.Start, code, msg, syncengine.EncodeChangeset(cs), a.tx.NowText()); err != nil {
		return pr, err
	}
	if err := appendAudit(a.ctx, a.tx, AuditEntry{DeviceID: dev.ID, PersonID: cs.Author, Action: ActionQuar,
		Detail: map[string]any{"replica": pr.Replica, "start": cs.Start, "code": code}}); err != nil {
		return pr, err
	}
	pr.Status, pr.Code, pr.Message = StatusQuarantined, code, msg
	res.Quarantined++
	return pr, nil
}

// ApplyHook is called inside the transaction that stores an accepted
// changeset, whoever wrote it (device push, server replica / portal, Import),
// once per record the changeset touched, after all of them are stored:
// before is the record's state before (nil: it is new), after its state now.
// It runs in the same transaction, so what it writes (server/notify: the push
// outbox) commits if and only if the change does; an error rolls the whole
// transaction back (a push is answered 500 and retried). A quarantined or
// duplicate changeset never reaches it. Writes the hook makes through
// tx.AutomationReplica are applied in this transaction and call it again.
type ApplyHook func(ctx context.Context, tx *Tx, before, after *syncengine.Record) error

// commit appends cs to the log and stores the new record states.
func (a *applier) commit(deviceID string, cs *syncengine.Changeset, recs []*syncengine.Record, res *SyncResult) (int64, error) {
	body := syncengine.EncodeChangeset(cs)
	r, err := a.tx.ExecContext(a.ctx, `INSERT INTO changesets (replica_id, start, span, device_id, author, received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		cs.Replica.String(), cs.Start, cs.Span(), nullString(deviceID), cs.Author, a.tx.NowText(), body)
	if err != nil {
		return 0, err
	}
	seq, err := r.LastInsertId()
	if err != nil {
		return 0, err
	}
	var erased []syncengine.RecordID
	var hooked [][2]*syncengine.Record // (before, after) for AfterApply
	for _, rec := range recs {
		prev, err := a.get(rec.ID)
		if err != nil {
			return 0, err
		}
		team, service, yp := scopeCols(rec, prev)
		if team, err = a.followYoungPerson(rec, team, yp); err != nil {
			return 0, err
		}
		if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO changeset_records (seq, record_id) VALUES (?, ?)`, seq, string(rec.ID)); err != nil {
			return 0, err
		}
		if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO records (id, type, team_id, service_id, young_person_id, state, updated_seq, deleted, erased)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET type = excluded.type, team_id = excluded.team_id, service_id = excluded.service_id,
				young_person_id = excluded.young_person_id, state = excluded.state, updated_seq = excluded.updated_seq,
				deleted = excluded.deleted, erased = excluded.erased`,
			string(rec.ID), rec.Type, nullString(team), nullString(service), nullString(yp), syncengine.EncodeRecord(rec), seq,
			rec.Deleted(), rec.Erased != nil); err != nil {
			return 0, err
		}
		if prev.exists && (prev.team != team || prev.service != service) {
			if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO scope_events (seq, record_id, from_team, to_team, at) VALUES (?, ?, ?, ?, ?)`,
				seq, string(rec.ID), nullString(scopeKey(prev.team, prev.service)), nullString(scopeKey(team, service)), a.tx.NowText()); err != nil {
				return 0, err
			}
			res.Touched = appendKeys(res.Touched, prev.team, prev.service)
		}
		if rec.Type == syncengine.TypeYoungPerson && prev.exists && prev.team != team && team != "" {
			moved, err := a.moveYoungPersonRecords(seq, string(rec.ID), team)
			if err != nil {
				return 0, fmt.Errorf("move records of %s to %s: %w", rec.ID, team, err)
			}
			res.Touched = append(res.Touched, moved...)
		}
		res.Touched = appendKeys(res.Touched, team, service)
		if prev.exists && prev.rec != nil && len(rec.Conflicts()) > len(prev.rec.Conflicts()) {
			res.Conflicts++
		}
		if rec.Erased != nil && (prev.rec == nil || prev.rec.Erased == nil) {
			erased = append(erased, rec.ID)
		}
		hooked = append(hooked, [2]*syncengine.Record{prev.rec, rec})
		a.cache[rec.ID] = &cachedRecord{rec: rec, team: team, service: service, yp: yp, exists: true}
		action := ActionWrite
		if rec.Erased != nil {
			action = ActionErase
		}
		if err := appendAudit(a.ctx, a.tx, AuditEntry{PersonID: cs.Author, DeviceID: deviceID, Action: action, RecordID: string(rec.ID),
			Detail: map[string]any{"seq": seq, "type": rec.Type, "ops": len(cs.Ops)}}); err != nil {
			return 0, err
		}
		if err := a.recordConsentDecisions(cs, rec); err != nil {
			return 0, fmt.Errorf("record sharing decision for %s: %w", rec.ID, err)
		}
	}
	if len(erased) > 0 {
		if err := a.redactHistory(erased); err != nil {
			return 0, err
		}
	}
	if hook := a.tx.db.AfterApply; hook != nil {
		outer := a.tx.ap
		a.tx.ap = a
		defer func() { a.tx.ap = outer }()
		for _, h := range hooked {
			if err := hook(a.ctx, a.tx, h[0], h[1]); err != nil {
				return 0, fmt.Errorf("after apply %s: %w", h[1].ID, err)
			}
		}
	}
	return seq, nil
}

// redactHistory strips erased records' ops from every stored changeset, so
// erasure reaches history and later pulls.
func (a *applier) redactHistory(ids []syncengine.RecordID) error {
	isErased := func(id syncengine.RecordID) bool { return slices.Contains(ids, id) }
	for _, id := range ids {
		rows, err := a.tx.QueryContext(a.ctx, `SELECT c.seq, c.body FROM changeset_records cr JOIN changesets c ON c.seq = cr.seq WHERE cr.record_id = ?`, string(id))
		if err != nil {
			return err
		}
		type upd struct {
			seq  int64
			body []byte
		}
		var updates []upd
		for rows.Next() {
			var u upd
			if err := rows.Scan(&u.seq, &u.body); err != nil {
				rows.Close()
				return err
			}
			cs, err := syncengine.DecodeChangeset(u.body)
			if err != nil {
				rows.Close()
				return fmt.Errorf("stored changeset %d: %w", u.seq, err)
			}
			if red, changed := syncengine.RedactChangeset(cs, isErased); changed {
				u.body = syncengine.EncodeChangeset(red)
				updates = append(updates, u)
			}
		}
		rows.Close()
		for _, u := range updates {
			if _, err := a.tx.ExecContext(a.ctx, `UPDATE changesets SET body = ? WHERE seq = ?`, u.body, u.seq); err != nil {
				return err
			}
		}
	}
	return nil
}

func scopeKey(team, service string) string {
	switch {
	case team != "" && service != "":
		return team + "|svc:" + service
	case service != "":
		return "svc:" + service
	}
	return team
}

func appendKeys(keys []string, team, service string) []string {
	if team != "" && !slices.Contains(keys, "team:"+team) {
		keys = append(keys, "team:"+team)
	}
	if service != "" && !slices.Contains(keys, "svc:"+service) {
		keys = append(keys, "svc:"+service)
	}
	return keys
}

// cursor is the parsed pull position: "<scope tag>.<seq>" between pulls, or
// "<scope tag>.<seq>.<base>.<after>" while a snapshot is being paged.
type cursor struct {
	tag      string
	seq      int64
	snapshot bool
	base     int64
	after    string
}

func (c cursor) String() string {
	if c.snapshot {
		return fmt.Sprintf("%s.%d.%d.%s", c.tag, c.seq, c.base, c.after)
	}
	return fmt.Sprintf("%s.%d", c.tag, c.seq)
}

func parseCursor(s string) (cursor, bool, error) {
	if s == "" {
		return cursor{}, false, nil
	}
	bad := Errorf(EINVALID, "parse cursor", "cursor is not one this server issued")
	parts := strings.Split(s, ".")
	var c cursor
	var err error
	switch len(parts) {
	case 2:
	case 4:
		c.snapshot = true
		if c.base, err = strconv.ParseInt(parts[2], 10, 64); err != nil || c.base < 0 {
			return c, false, bad
		}
		c.after = parts[3]
		if c.after != "" && !syncengine.ValidRecordID(c.after) {
			return c, false, bad
		}
	default:
		return c, false, bad
	}
	c.tag = parts[0]
	if c.seq, err = strconv.ParseInt(parts[1], 10, 64); err != nil || c.seq < 0 {
		return c, false, bad
	}
	return c, true, nil
}

// cursorSeq extracts the log position of a cursor for display (0 if none).
func cursorSeq(s string) int64 {
	c, ok, err := parseCursor(s)
	if !ok || err != nil {
		return 0
	}
	if c.snapshot {
		return c.base
	}
	return c.seq
}

// ValidateCursor checks a cursor's syntax (the HTTP layer calls it while parsing input).
func ValidateCursor(s string) error {
	_, _, err := parseCursor(s)
	return err
}

// pull fills res with the next page for the device.
//
// Between pulls the device receives changesets (history) for its scope. A new
// device, a device whose scope changed, a device to which records became
// visible, and every practitioner device receive record snapshots instead.
// Snapshot pages are read at successive log positions; each page also re-sends
// the records of earlier pages that changed meanwhile, so when the last page
// is sent every record the device holds is at that page's position, and the
// changesets that follow are all newer than any snapshot (the engine treats a
// changeset as a duplicate if any record it touches already covers it).
func pull(ctx context.Context, tx *Tx, req SyncRequest, scope Scope, res *SyncResult) error {
	budget := req.PageBytes
	if budget <= 0 {
		budget = DefaultPageBytes
	}
	var now int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changesets`).Scan(&now); err != nil {
		return err
	}
	tag := scope.Tag()
	cur, ok, err := parseCursor(req.Cursor)
	if err != nil {
		return err
	}
	switch {
	case !ok:
		cur = cursor{tag: tag, snapshot: true}
	case cur.tag != tag:
		// Scope changed: start again from a full snapshot.
		res.Reset = true
		cur = cursor{tag: tag, snapshot: true}
	case cur.seq > now:
		return Errorf(ECURSORAHEAD, "pull", "this device has seen more than the server holds (was the server restored from a backup?): send your recent changes again and start from a snapshot")
	}
	if cur.seq > 0 {
		// History the device still needed was compacted away while it was
		// offline: it may also have missed scope events telling it to drop
		// records, so it starts again from a snapshot of its scope.
		done, err := compactedThrough(ctx, tx)
		if err != nil {
			return err
		}
		if cur.seq < done {
			res.Reset = true
			cur = cursor{tag: tag, snapshot: true}
		}
	}
	filter, fargs := scope.sqlFilter()
	if !cur.snapshot {
		// Records that left or entered the scope since the cursor.
		entered, err := scopeMoves(ctx, tx, scope, cur.seq, now, res)
		if err != nil {
			return err
		}
		if entered || scope.Practitioner() {
			cur = cursor{tag: tag, snapshot: true, seq: cur.seq, base: cur.seq}
		}
	} else if cur.seq > 0 {
		if _, err := scopeMoves(ctx, tx, scope, cur.seq, now, res); err != nil {
			return err
		}
	}
	if cur.snapshot {
		return pullSnapshot(ctx, tx, scope, cur, now, budget, filter, fargs, res)
	}
	// Each changeset comes with the records it touches that are in scope and
	// how many it touches in all: one that also touches records outside the
	// scope (a supervisor of two teams, the server replica) is sent restricted
	// to the device's records, never whole.
	args := append([]any{}, fargs...)
	args = append(args, cur.seq, req.Device.ReplicaID)
	rows, err := tx.QueryContext(ctx, `SELECT seq, body, total, mine FROM (
		SELECT c.seq, c.body,
		  (SELECT COUNT(*) FROM changeset_records cr WHERE cr.seq = c.seq) AS total,
		  (SELECT group_concat(cr.record_id, ' ') FROM changeset_records cr JOIN records r ON r.id = cr.record_id
		    WHERE cr.seq = c.seq AND `+filter+`) AS mine
		FROM changesets c WHERE c.seq > ? AND c.replica_id <> ?)
		WHERE mine IS NOT NULL ORDER BY seq`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	size := 0
	last := cur.seq
	for rows.Next() {
		var seq int64
		var body []byte
		var total int
		var mine string
		if err := rows.Scan(&seq, &body, &total, &mine); err != nil {
			return err
		}
		if ids := strings.Fields(mine); len(ids) < total {
			if body, err = restrictBody(body, ids); err != nil {
				return fmt.Errorf("restrict changeset %d: %w", seq, err)
			}
		}
		if len(res.Changesets) > 0 && size+len(body) > budget {
			res.More = true
			break
		}
		res.Changesets = append(res.Changesets, body)
		size += len(body)
		last = seq
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if !res.More {
		last = now
	}
	res.Cursor = cursor{tag: tag, seq: last}.String()
	return nil
}

// restrictBody re-encodes a stored changeset limited to the records in ids
// (ops on the others become width-preserving placeholders, their deps go).
func restrictBody(body []byte, ids []string) ([]byte, error) {
	cs, err := syncengine.DecodeChangeset(body)
	if err != nil {
		return nil, err
	}
	keep := make(map[syncengine.RecordID]bool, len(ids))
	for _, id := range ids {
		keep[syncengine.RecordID(id)] = true
	}
	out, ok := syncengine.RestrictChangeset(cs, func(id syncengine.RecordID) bool { return keep[id] })
	if !ok {
		return nil, fmt.Errorf("no record in scope")
	}
	return syncengine.EncodeChangeset(out), nil
}

// scopeMoves adds to res.Drop the records that moved out of scope in
// (from, to] and reports whether any moved in.
func scopeMoves(ctx context.Context, tx *Tx, scope Scope, from, to int64, res *SyncResult) (entered bool, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT e.record_id, r.type, COALESCE(r.team_id, ''), COALESCE(r.service_id, '')
		FROM scope_events e JOIN records r ON r.id = e.record_id WHERE e.seq > ? AND e.seq <= ? ORDER BY e.record_id`, from, to)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, typ, team, svc string
		if err := rows.Scan(&id, &typ, &team, &svc); err != nil {
			return false, err
		}
		if scope.Contains(typ, team, svc) {
			entered = true
		} else if !slices.Contains(res.Drop, id) {
			res.Drop = append(res.Drop, id)
		}
	}
	return entered, rows.Err()
}

func pullSnapshot(ctx context.Context, tx *Tx, scope Scope, cur cursor, now int64, budget int, filter string, fargs []any, res *SyncResult) error {
	prev := cur.seq // position of the previous page (or of the base)
	if cur.after == "" {
		prev = cur.base
	}
	rows, err := tx.QueryContext(ctx, `SELECT r.id, r.state, COALESCE(r.young_person_id, '') FROM records r
		WHERE `+filter+` AND ((r.id > ? AND r.updated_seq > ?) OR (r.id <= ? AND r.updated_seq > ?))
		ORDER BY r.id`, append(fargs, cur.after, cur.base, cur.after, prev)...)
	if err != nil {
		return err
	}
	type row struct {
		id, yp string
		state  []byte
	}
	var page []row
	size := 0
	after := cur.after
	more := false
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.state, &r.yp); err != nil {
			rows.Close()
			return err
		}
		churn := cur.after != "" && r.id <= cur.after
		if !churn && len(page) > 0 && size+len(r.state) > budget {
			more = true
			break
		}
		page = append(page, r)
		size += len(r.state)
		if !churn {
			after = r.id
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if scope.Practitioner() {
		fields := scope.projection()
		for _, r := range page {
			rec, err := syncengine.DecodeRecord(r.state)
			if err != nil {
				return fmt.Errorf("stored record %s: %w", r.id, err)
			}
			p := rec.Project(fields)
			if r.yp != "" && (slices.Contains(fields, "known_as") || slices.Contains(fields, "age_band")) {
				if err := projectYoungPerson(ctx, tx, p, r.yp, fields); err != nil {
					return err
				}
			}
			res.Snapshots = append(res.Snapshots, syncengine.EncodeRecord(p))
		}
	} else {
		for _, r := range page {
			res.Snapshots = append(res.Snapshots, r.state)
		}
	}
	if more {
		res.More = true
		res.Cursor = cursor{tag: cur.tag, seq: now, snapshot: true, base: cur.base, after: after}.String()
	} else {
		res.Cursor = cursor{tag: cur.tag, seq: now}.String()
	}
	return nil
}

// projectYoungPerson copies the young person's agreed fields (known_as,
// age_band) into a projected referral, so a service sees who it is about
// without receiving the profile.
func projectYoungPerson(ctx context.Context, tx *Tx, p *syncengine.Record, ypID string, fields []string) error {
	var state []byte
	err := tx.QueryRowContext(ctx, `SELECT state FROM records WHERE id = ?`, ypID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	yp, err := syncengine.DecodeRecord(state)
	if err != nil {
		return err
	}
	for _, f := range []string{"known_as", "age_band"} {
		if slices.Contains(fields, f) && yp.Fields[f] != nil {
			p.Fields[f] = yp.Fields[f]
		}
	}
	return nil
}

// followYoungPerson scopes referrals and follow-ups by their young person's
// current team: when a young person moves team, the new team needs their
// referrals and follow-ups (the chronology), and the old team must lose them.
// A record whose young person the server does not hold keeps its own team_id.
// Encounters stay with the team that met them.
func (a *applier) followYoungPerson(rec *syncengine.Record, team, yp string) (string, error) {
	if yp == "" || (rec.Type != syncengine.TypeReferral && rec.Type != syncengine.TypeFollowUp) {
		return team, nil
	}
	y, err := a.get(syncengine.RecordID(yp))
	if err != nil {
		return "", err
	}
	if y.exists && y.team != "" {
		return y.team, nil
	}
	return team, nil
}

// moveYoungPersonRecords moves a young person's referrals and follow-ups to
// their new team, with a scope event for each so that devices of the old team
// drop them and devices of the new team receive them. It returns the scope
// keys touched, for the live channel.
func (a *applier) moveYoungPersonRecords(seq int64, yp, team string) ([]string, error) {
	type moved struct{ id, team, service string }
	rows, err := a.tx.QueryContext(a.ctx, `SELECT id, COALESCE(team_id, ''), COALESCE(service_id, '') FROM records
		WHERE young_person_id = ? AND type IN (?, ?) AND COALESCE(team_id, '') != ?`,
		yp, syncengine.TypeReferral, syncengine.TypeFollowUp, team)
	ms, err := collect(rows, err, func(r *sql.Rows) (m moved, err error) { return m, r.Scan(&m.id, &m.team, &m.service) })
	if err != nil {
		return nil, err
	}
	var touched []string
	for _, m := range ms {
		if _, err := a.tx.ExecContext(a.ctx, `UPDATE records SET team_id = ? WHERE id = ?`, team, m.id); err != nil {
			return nil, err
		}
		if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO scope_events (seq, record_id, from_team, to_team, at) VALUES (?, ?, ?, ?, ?)`,
			seq, m.id, nullString(scopeKey(m.team, m.service)), nullString(scopeKey(team, m.service)), a.tx.NowText()); err != nil {
			return nil, err
		}
		if c, ok := a.cache[syncengine.RecordID(m.id)]; ok {
			c.team = team
		}
		touched = appendKeys(touched, m.team, "")
	}
	return appendKeys(touched, team, ""), nil
}
