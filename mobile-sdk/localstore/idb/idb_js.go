package idb

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"syscall/js"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
)

// Store is one phone's IndexedDB database. Its methods block the calling
// goroutine on IndexedDB and WebCrypto promises: never call them from a
// js.FuncOf callback itself (start a goroutine), or the page deadlocks.
//
// Each write issues all its requests in one readwrite transaction with no
// await in between (an IndexedDB transaction commits as soon as it has
// nothing pending): sealing happens before the transaction opens.
type Store struct {
	name string
	db   js.Value
	key  js.Value // non-extractable AES-GCM CryptoKey
}

var _ localstore.Store = (*Store)(nil)

const (
	stMeta       = "meta"
	stRecords    = "records"
	stOutbox     = "outbox"
	stInbox      = "inbox"
	stKey        = "key"
	stSent       = "sent"       // start -> {acked, body}
	stQuarantine = "quarantine" // [replica, start] -> {direction, code, message, at, body}
)

// version 2 added sent and quarantine, so the one sync loop of the native
// client (package mobilesdk) runs here unchanged.
const version = 2

var allStores = []any{stMeta, stRecords, stOutbox, stInbox, stSent, stQuarantine}

// Codes as the native SDK's (mobile-sdk/errors.go).
const (
	eWrongKey = "wrong_key"
	eCorrupt  = "corrupt"
)

// Open opens (or creates) the database called name.
func Open(name string) (*Store, error) {
	idb := js.Global().Get("indexedDB")
	if idb.IsUndefined() {
		return nil, fmt.Errorf("open local store: this browser has no IndexedDB")
	}
	req := idb.Call("open", name, version)
	upgrade := js.FuncOf(func(this js.Value, args []js.Value) any {
		db := req.Get("result")
		for _, s := range []string{stMeta, stRecords, stOutbox, stInbox, stKey, stSent, stQuarantine} {
			if !db.Get("objectStoreNames").Call("contains", s).Bool() {
				db.Call("createObjectStore", s)
			}
		}
		return nil
	})
	defer upgrade.Release()
	req.Set("onupgradeneeded", upgrade)
	db, err := await(req)
	if err != nil {
		return nil, fmt.Errorf("open local store: %w", err)
	}
	s := &Store{name: name, db: db}
	if err := s.loadKey(); err != nil {
		db.Call("close")
		return nil, err
	}
	return s, nil
}

func (s *Store) loadKey() error {
	k, err := await(s.db.Call("transaction", stKey).Call("objectStore", stKey).Call("get", "aes"))
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	if !k.IsUndefined() {
		s.key = k
		return nil
	}
	alg := js.ValueOf(map[string]any{"name": "AES-GCM", "length": 256})
	usages := js.ValueOf([]any{"encrypt", "decrypt"})
	k, err = awaitPromise(subtle().Call("generateKey", alg, false, usages))
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	tx := s.db.Call("transaction", stKey, "readwrite")
	// add, not put: if another tab made a key first, ours fails and theirs is read back.
	tx.Call("objectStore", stKey).Call("add", k, "aes")
	if err := done(tx); err != nil {
		return s.loadKeyAgain()
	}
	s.key = k
	return nil
}

func (s *Store) loadKeyAgain() error {
	k, err := await(s.db.Call("transaction", stKey).Call("objectStore", stKey).Call("get", "aes"))
	if err != nil || k.IsUndefined() {
		return fmt.Errorf("store key: %v", err)
	}
	s.key = k
	return nil
}

func subtle() js.Value { return js.Global().Get("crypto").Get("subtle") }

// seal is nonce || AES-GCM(plain), with ad binding the blob to its row.
func (s *Store) seal(ad string, plain []byte) ([]byte, error) {
	nonce := js.Global().Get("Uint8Array").New(12)
	js.Global().Get("crypto").Call("getRandomValues", nonce)
	alg := js.ValueOf(map[string]any{"name": "AES-GCM", "iv": nonce, "additionalData": toJS([]byte(ad))})
	ct, err := awaitPromise(subtle().Call("encrypt", alg, s.key, toJS(plain)))
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return append(toGo(nonce), toGo(js.Global().Get("Uint8Array").New(ct))...), nil
}

func (s *Store) open(ad string, blob []byte) ([]byte, error) {
	if len(blob) < 12+16 {
		return nil, syncengine.Errorf(eCorrupt, "decrypt", "stored blob is too short")
	}
	alg := js.ValueOf(map[string]any{"name": "AES-GCM", "iv": toJS(blob[:12]), "additionalData": toJS([]byte(ad))})
	pt, err := awaitPromise(subtle().Call("decrypt", alg, s.key, toJS(blob[12:])))
	if err != nil {
		return nil, syncengine.Errorf(eWrongKey, "decrypt", "local data does not decrypt with this key")
	}
	return toGo(js.Global().Get("Uint8Array").New(pt)), nil
}

// ---- meta ----

func (s *Store) Meta(key string) (_ string, err error) {
	defer catch(&err)
	v, err := await(s.db.Call("transaction", stMeta).Call("objectStore", stMeta).Call("get", key))
	if err != nil {
		return "", fmt.Errorf("read meta: %w", err)
	}
	if v.Type() != js.TypeString {
		return "", nil
	}
	return v.String(), nil
}

func (s *Store) SetMeta(kv map[string]string) (err error) {
	defer catch(&err)
	tx := s.db.Call("transaction", stMeta, "readwrite")
	m := tx.Call("objectStore", stMeta)
	for k, v := range kv {
		m.Call("put", v, k)
	}
	return done(tx)
}

func (s *Store) Secret(key string) (_ string, err error) {
	defer catch(&err)
	v, err := s.Meta(key)
	if err != nil || v == "" {
		return "", err
	}
	blob, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return "", syncengine.Errorf(eCorrupt, "read secret", "stored secret is not base64")
	}
	b, err := s.open("meta:"+key, blob)
	return string(b), err
}

func (s *Store) SetSecret(key, value string) (err error) {
	defer catch(&err)
	b, err := s.seal("meta:"+key, []byte(value))
	if err != nil {
		return err
	}
	return s.SetMeta(map[string]string{key: base64.StdEncoding.EncodeToString(b)})
}

func (s *Store) metaInt(key string) (int64, error) {
	v, err := s.Meta(key)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, syncengine.Errorf(eCorrupt, "read meta", "meta %s is not a number", key)
	}
	return n, nil
}

// ---- records ----

func (s *Store) Record(id syncengine.RecordID) (_ *syncengine.Record, err error) {
	defer catch(&err)
	v, err := await(s.db.Call("transaction", stRecords).Call("objectStore", stRecords).Call("get", string(id)))
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	if v.IsUndefined() {
		return nil, nil
	}
	return s.decodeRecord(string(id), v)
}

func (s *Store) decodeRecord(id string, v js.Value) (*syncengine.Record, error) {
	plain, err := s.open("rec:"+id, toGo(v))
	if err != nil {
		return nil, err
	}
	r, err := syncengine.DecodeRecord(plain)
	if err != nil {
		return nil, syncengine.Errorf(eCorrupt, "read record", "stored record %s does not decode", id)
	}
	return r, nil
}

// Find decodes every record and filters and sorts in Go (the type and
// times are inside the sealed state; a phone holds hundreds, not millions).
func (s *Store) Find(q localstore.Query) (_ []*syncengine.Record, err error) {
	defer catch(&err)
	keys, vals, err := s.all(stRecords)
	if err != nil {
		return nil, err
	}
	noTeam := func(syncengine.RecordID) string { return "" }
	var recs []*syncengine.Record
	var ixs []localstore.Index
	for i := range keys {
		r, err := s.decodeRecord(keys[i].String(), vals[i])
		if err != nil {
			return nil, err
		}
		ix := localstore.IndexOf(r, noTeam)
		if q.Match(r.Type, ix) {
			recs, ixs = append(recs, r), append(ixs, ix)
		}
	}
	q.Sort(recs, ixs)
	return recs, nil
}

// Commit is the native store's Commit: record states, and for a new local
// save its outbox entry and the counter, in one transaction.
func (s *Store) Commit(cs *syncengine.Changeset, recs []*syncengine.Record) (err error) {
	defer catch(&err)
	self, err := s.Meta("replica_id")
	if err != nil {
		return err
	}
	counter, err := s.metaInt("counter")
	if err != nil {
		return err
	}
	hlc, err := s.metaInt("hlc")
	if err != nil {
		return err
	}
	sealed := make([][]byte, len(recs))
	for i, r := range recs {
		if sealed[i], err = s.seal("rec:"+string(r.ID), syncengine.EncodeRecord(r)); err != nil {
			return err
		}
	}
	local := self != "" && cs.Replica.String() == self
	var out []byte
	if local && int64(cs.End()) > counter {
		if out, err = s.seal(outboxAD(cs.Start), syncengine.EncodeChangeset(cs)); err != nil {
			return err
		}
	}
	tx := s.db.Call("transaction", js.ValueOf([]any{stRecords, stOutbox, stInbox, stMeta}), "readwrite")
	recStore := tx.Call("objectStore", stRecords)
	for i, r := range recs {
		recStore.Call("put", toJS(sealed[i]), string(r.ID))
	}
	meta := tx.Call("objectStore", stMeta)
	if out != nil {
		tx.Call("objectStore", stOutbox).Call("put", toJS(out), float64(cs.Start))
		meta.Call("put", strconv.FormatUint(cs.End(), 10), "counter")
	} else if !local {
		tx.Call("objectStore", stInbox).Call("delete", inboxKey(cs.Replica.String(), cs.Start))
	}
	if int64(cs.Time) > hlc {
		meta.Call("put", strconv.FormatInt(int64(cs.Time), 10), "hlc")
	}
	return done(tx)
}

func outboxAD(start uint64) string { return "out:" + strconv.FormatUint(start, 10) }
func inboxAD(replica string, start uint64) string {
	return "in:" + replica + ":" + strconv.FormatUint(start, 10)
}

// inboxKey orders held changesets by replica, then counter.
func inboxKey(replica string, start uint64) js.Value {
	return js.ValueOf([]any{replica, float64(start)})
}

// ---- outbox, inbox, sent, quarantine ----

func (s *Store) Outbox(maxBytes int) (_ []localstore.Entry, err error) {
	defer catch(&err)
	keys, vals, err := s.all(stOutbox)
	if err != nil {
		return nil, err
	}
	var out []localstore.Entry
	size := 0
	for i := range keys {
		start := uint64(keys[i].Float())
		body, err := s.open(outboxAD(start), toGo(vals[i]))
		if err != nil {
			return nil, err
		}
		if maxBytes > 0 && len(out) > 0 && size+len(body) > maxBytes {
			break
		}
		out = append(out, localstore.Entry{Start: start, Body: body})
		size += len(body)
	}
	return out, nil
}

func (s *Store) Inbox() (_ []*syncengine.Changeset, err error) {
	defer catch(&err)
	keys, vals, err := s.all(stInbox)
	if err != nil {
		return nil, err
	}
	var out []*syncengine.Changeset
	var bad []localstore.Refusal
	for i := range keys {
		replica, start := keys[i].Index(0).String(), uint64(keys[i].Index(1).Float())
		body, err := s.open(inboxAD(replica, start), toGo(vals[i]))
		if err != nil {
			return nil, err
		}
		cs, err := syncengine.DecodeChangeset(body)
		if err != nil {
			bad = append(bad, localstore.Refusal{Key: localstore.Key{Queue: localstore.QueueInbox, Replica: replica, Start: start},
				Code: syncengine.EMALFORMED, Message: "received changeset does not decode"})
			continue
		}
		out = append(out, cs)
	}
	if len(bad) > 0 {
		if err := s.Write(&localstore.Batch{Refuse: bad}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// quarantined is a quarantine row as IndexedDB keeps it.
type quarantined struct {
	replica, direction, code, message string
	start                             uint64
	at                                int64
	body                              js.Value // sealed as it was in the outbox or inbox
}

func (s *Store) quarantine() ([]quarantined, error) {
	keys, vals, err := s.all(stQuarantine)
	if err != nil {
		return nil, err
	}
	out := make([]quarantined, len(keys))
	for i := range keys {
		v := vals[i]
		out[i] = quarantined{replica: keys[i].Index(0).String(), start: uint64(keys[i].Index(1).Float()),
			direction: v.Get("direction").String(), code: v.Get("code").String(), message: v.Get("message").String(),
			at: int64(v.Get("at").Float()), body: v.Get("body")}
	}
	return out, nil
}

func (s *Store) Quarantined() (_ []localstore.Quarantined, err error) {
	defer catch(&err)
	qs, err := s.quarantine()
	if err != nil {
		return nil, err
	}
	out := make([]localstore.Quarantined, len(qs))
	for i, q := range qs {
		out[i] = localstore.Quarantined{Replica: q.replica, Start: int64(q.start), Direction: q.direction, Code: q.code, Message: q.message, At: q.at}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out, nil
}

func (s *Store) openChangeset(ad string, blob js.Value) *syncengine.Changeset {
	frame, err := s.open(ad, toGo(blob))
	if err != nil {
		return nil
	}
	cs, err := syncengine.DecodeChangeset(frame)
	if err != nil {
		return nil
	}
	return cs
}

func (s *Store) Queued() (_ []localstore.Queued, err error) {
	defer catch(&err)
	var out []localstore.Queued
	keys, vals, err := s.all(stOutbox)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		start := uint64(keys[i].Float())
		out = append(out, localstore.Queued{Key: localstore.Key{Queue: localstore.QueueOutbox, Start: start},
			Changeset: s.openChangeset(outboxAD(start), vals[i])})
	}
	if keys, vals, err = s.all(stInbox); err != nil {
		return nil, err
	}
	for i := range keys {
		replica, start := keys[i].Index(0).String(), uint64(keys[i].Index(1).Float())
		out = append(out, localstore.Queued{Key: localstore.Key{Queue: localstore.QueueInbox, Replica: replica, Start: start},
			Changeset: s.openChangeset(inboxAD(replica, start), vals[i])})
	}
	if keys, vals, err = s.all(stSent); err != nil {
		return nil, err
	}
	for i := range keys {
		start := uint64(keys[i].Float())
		out = append(out, localstore.Queued{Key: localstore.Key{Queue: localstore.QueueSent, Start: start},
			Changeset: s.openChangeset(outboxAD(start), vals[i].Get("body"))})
	}
	qs, err := s.quarantine()
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		ad := inboxAD(q.replica, q.start)
		if q.direction == "push" {
			ad = outboxAD(q.start)
		}
		out = append(out, localstore.Queued{Key: localstore.Key{Queue: localstore.QueueQuarantine, Replica: q.replica, Start: q.start},
			Direction: q.direction, Changeset: s.openChangeset(ad, q.body)})
	}
	return out, nil
}

func (s *Store) Counts() (_ localstore.Counts, err error) {
	defer catch(&err)
	var c localstore.Counts
	okeys, ovals, err := s.all(stOutbox)
	if err != nil {
		return c, err
	}
	c.Outbox = int64(len(okeys))
	inOutbox := map[float64]bool{}
	for i := range okeys {
		c.OutboxBytes += int64(ovals[i].Get("length").Int())
		inOutbox[okeys[i].Float()] = true
	}
	skeys, _, err := s.all(stSent)
	if err != nil {
		return c, err
	}
	for _, k := range skeys {
		if !inOutbox[k.Float()] {
			c.SentOnly++
		}
	}
	for _, x := range []struct {
		store string
		n     *int64
	}{{stInbox, &c.Inbox}, {stQuarantine, &c.Quarantined}, {stRecords, &c.Records}} {
		v, err := await(s.db.Call("transaction", x.store).Call("objectStore", x.store).Call("count"))
		if err != nil {
			return c, err
		}
		*x.n = int64(v.Int())
	}
	return c, nil
}

// Batch has no batching to offer: IndexedDB commits each transaction
// without an fsync per write on the page's thread anyway.
func (s *Store) Batch(fn func() error) error { return fn() }

// Write reads and seals everything first, then issues every request of b in
// one readwrite transaction with no await in between (IndexedDB commits a
// transaction once nothing is pending). The client's locks keep other
// writers out between the reads and the transaction.
func (s *Store) Write(b *localstore.Batch) (err error) {
	defer catch(&err)
	at := b.At
	if at == 0 {
		at = time.Now().UnixMilli()
	}
	self, err := s.Meta("replica_id")
	if err != nil {
		return err
	}
	get := func(store string, key js.Value) (js.Value, error) {
		return await(s.db.Call("transaction", store).Call("objectStore", store).Call("get", key))
	}
	type move struct {
		key  js.Value
		body js.Value
	}
	var acks []move
	for _, start := range b.Ack {
		v, err := get(stOutbox, js.ValueOf(float64(start)))
		if err != nil {
			return err
		}
		if !v.IsUndefined() {
			acks = append(acks, move{js.ValueOf(float64(start)), v})
		}
	}
	type refusal struct {
		from    string
		fromKey js.Value
		key     js.Value
		row     map[string]any
	}
	var refusals []refusal
	for _, r := range b.Refuse {
		from, fromKey, replica, dir := stOutbox, js.ValueOf(float64(r.Start)), self, "push"
		if r.Queue == localstore.QueueInbox {
			from, fromKey, replica, dir = stInbox, inboxKey(r.Replica, r.Start), r.Replica, "pull"
		}
		v, err := get(from, fromKey)
		if err != nil {
			return err
		}
		if v.IsUndefined() {
			continue
		}
		refusals = append(refusals, refusal{from, fromKey, inboxKey(replica, r.Start),
			map[string]any{"direction": dir, "code": r.Code, "message": r.Message, "at": float64(at), "body": v}})
	}
	puts := make([]js.Value, len(b.Put))
	for i, r := range b.Put {
		sealed, err := s.seal("rec:"+string(r.ID), syncengine.EncodeRecord(r))
		if err != nil {
			return err
		}
		puts[i] = toJS(sealed)
	}
	holds := make([]js.Value, len(b.Hold))
	for i, cs := range b.Hold {
		sealed, err := s.seal(inboxAD(cs.Replica.String(), cs.Start), syncengine.EncodeChangeset(cs))
		if err != nil {
			return err
		}
		holds[i] = toJS(sealed)
	}
	rewrites := make([]js.Value, len(b.Rewrite))
	for i, q := range b.Rewrite {
		ad := outboxAD(q.Start)
		switch q.Queue {
		case localstore.QueueOutbox:
		case localstore.QueueInbox:
			ad = inboxAD(q.Replica, q.Start)
		default:
			return fmt.Errorf("rewrite: queue %q is not rewritable", q.Queue)
		}
		sealed, err := s.seal(ad, syncengine.EncodeChangeset(q.Changeset))
		if err != nil {
			return err
		}
		rewrites[i] = toJS(sealed)
	}
	for _, k := range b.Forget {
		if k.Queue != localstore.QueueSent && k.Queue != localstore.QueueQuarantine {
			return fmt.Errorf("forget: queue %q is not forgettable", k.Queue)
		}
	}
	var prune []js.Value
	var resend []move
	if b.PruneSentBefore > 0 || b.Resend {
		keys, vals, err := s.all(stSent)
		if err != nil {
			return err
		}
		for i := range keys {
			if b.PruneSentBefore > 0 && int64(vals[i].Get("acked").Float()) < b.PruneSentBefore {
				prune = append(prune, keys[i])
				continue
			}
			resend = append(resend, move{keys[i], vals[i].Get("body")})
		}
		if !b.Resend {
			resend = nil
		}
	}
	secrets := map[string]string{}
	for k, v := range b.Secrets {
		sealed, err := s.seal("meta:"+k, []byte(v))
		if err != nil {
			return err
		}
		secrets[k] = base64.StdEncoding.EncodeToString(sealed)
	}

	tx := s.db.Call("transaction", js.ValueOf(allStores), "readwrite")
	store := func(name string) js.Value { return tx.Call("objectStore", name) }
	if b.Reset {
		store(stRecords).Call("clear")
		store(stInbox).Call("clear")
	}
	for _, m := range acks {
		store(stSent).Call("put", js.ValueOf(map[string]any{"acked": float64(at), "body": m.body}), m.key)
		store(stOutbox).Call("delete", m.key)
	}
	for _, r := range refusals {
		store(stQuarantine).Call("put", js.ValueOf(r.row), r.key)
		store(r.from).Call("delete", r.fromKey)
	}
	for _, k := range b.Release {
		replica := k.Replica
		if replica == "" {
			replica = self
		}
		store(stQuarantine).Call("delete", inboxKey(replica, k.Start))
	}
	for _, id := range b.Drop {
		store(stRecords).Call("delete", string(id))
	}
	for i, r := range b.Put {
		store(stRecords).Call("put", puts[i], string(r.ID))
	}
	for i, cs := range b.Hold {
		store(stInbox).Call("put", holds[i], inboxKey(cs.Replica.String(), cs.Start))
	}
	for _, k := range b.Unhold {
		store(stInbox).Call("delete", inboxKey(k.Replica, k.Start))
	}
	for i, q := range b.Rewrite {
		if q.Queue == localstore.QueueOutbox {
			store(stOutbox).Call("put", rewrites[i], float64(q.Start))
		} else {
			store(stInbox).Call("put", rewrites[i], inboxKey(q.Replica, q.Start))
		}
	}
	for _, k := range b.Forget {
		if k.Queue == localstore.QueueSent {
			store(stSent).Call("delete", float64(k.Start))
		} else {
			store(stQuarantine).Call("delete", inboxKey(k.Replica, k.Start))
		}
	}
	for _, k := range prune {
		store(stSent).Call("delete", k)
	}
	for _, m := range resend {
		store(stOutbox).Call("put", m.body, m.key)
	}
	meta := store(stMeta)
	for k, v := range secrets {
		meta.Call("put", v, k)
	}
	for k, v := range b.Meta {
		meta.Call("put", v, k)
	}
	return done(tx)
}

// all returns a store's keys and values in key order, read in one transaction.
func (s *Store) all(name string) (keys, vals []js.Value, err error) {
	st := s.db.Call("transaction", name).Call("objectStore", name)
	kr, vr := st.Call("getAllKeys"), st.Call("getAll")
	k, err := await(kr)
	if err != nil {
		return nil, nil, err
	}
	v, err := await(vr)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i < k.Length(); i++ {
		keys = append(keys, k.Index(i))
		vals = append(vals, v.Index(i))
	}
	return keys, vals, nil
}

// Wipe deletes the database, and with it the key, then checks the browser
// no longer lists it.
func (s *Store) Wipe() (_ []string, err error) {
	defer catch(&err)
	s.db.Call("close")
	if _, err := await(js.Global().Get("indexedDB").Call("deleteDatabase", s.name)); err != nil {
		return nil, fmt.Errorf("delete local store: %w", err)
	}
	removed := []string{"indexeddb:" + s.name}
	if js.Global().Get("indexedDB").Get("databases").IsUndefined() {
		return removed, nil
	}
	dbs, err := awaitPromise(js.Global().Get("indexedDB").Call("databases"))
	if err != nil {
		return removed, fmt.Errorf("list local stores: %w", err)
	}
	for i := 0; i < dbs.Length(); i++ {
		if dbs.Index(i).Get("name").String() == s.name {
			return removed, fmt.Errorf("wipe: the local store %s remains", s.name)
		}
	}
	return removed, nil
}

func (s *Store) Close() error {
	s.db.Call("close")
	return nil
}

// catch turns a JavaScript exception thrown into Go (a transaction on a
// connection the wipe has closed, a quota error) into an error: uncaught,
// it would end the whole program, not just this call.
func catch(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("local store: %v", r)
	}
}

// ---- promises and requests ----

type result struct {
	v   js.Value
	err error
}

// await waits for an IDBRequest.
func await(req js.Value) (js.Value, error) {
	ch := make(chan result, 1)
	ok := js.FuncOf(func(js.Value, []js.Value) any { ch <- result{v: req.Get("result")}; return nil })
	fail := js.FuncOf(func(js.Value, []js.Value) any { ch <- result{err: jsError(req.Get("error"))}; return nil })
	defer ok.Release()
	defer fail.Release()
	req.Set("onsuccess", ok)
	req.Set("onerror", fail)
	r := <-ch
	return r.v, r.err
}

// done waits for a transaction to commit.
func done(tx js.Value) error {
	ch := make(chan error, 1)
	ok := js.FuncOf(func(js.Value, []js.Value) any { ch <- nil; return nil })
	fail := js.FuncOf(func(js.Value, []js.Value) any { ch <- jsError(tx.Get("error")); return nil })
	defer ok.Release()
	defer fail.Release()
	tx.Set("oncomplete", ok)
	tx.Set("onerror", fail)
	tx.Set("onabort", fail)
	return <-ch
}

// Await waits for a JavaScript promise (the web app's fetch uses it too).
func Await(p js.Value) (js.Value, error) { return awaitPromise(p) }

func awaitPromise(p js.Value) (js.Value, error) {
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, a []js.Value) any { ch <- result{v: a[0]}; return nil })
	fail := js.FuncOf(func(_ js.Value, a []js.Value) any { ch <- result{err: jsError(a[0])}; return nil })
	defer ok.Release()
	defer fail.Release()
	p.Call("then", ok, fail)
	r := <-ch
	return r.v, r.err
}

func jsError(v js.Value) error {
	if v.IsNull() || v.IsUndefined() {
		return fmt.Errorf("indexeddb: aborted")
	}
	return fmt.Errorf("%s", v.Call("toString").String())
}

func toJS(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

func toGo(v js.Value) []byte {
	if !v.InstanceOf(js.Global().Get("Uint8Array")) {
		v = js.Global().Get("Uint8Array").New(v)
	}
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b
}
