package idb

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"syscall/js"

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
	stMeta    = "meta"
	stRecords = "records"
	stOutbox  = "outbox"
	stInbox   = "inbox"
	stKey     = "key"
)

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
	req := idb.Call("open", name, 1)
	upgrade := js.FuncOf(func(this js.Value, args []js.Value) any {
		db := req.Get("result")
		for _, s := range []string{stMeta, stRecords, stOutbox, stInbox, stKey} {
			db.Call("createObjectStore", s)
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

func (s *Store) Meta(key string) (string, error) {
	v, err := await(s.db.Call("transaction", stMeta).Call("objectStore", stMeta).Call("get", key))
	if err != nil {
		return "", fmt.Errorf("read meta: %w", err)
	}
	if v.Type() != js.TypeString {
		return "", nil
	}
	return v.String(), nil
}

func (s *Store) SetMeta(kv map[string]string) error {
	tx := s.db.Call("transaction", stMeta, "readwrite")
	m := tx.Call("objectStore", stMeta)
	for k, v := range kv {
		m.Call("put", v, k)
	}
	return done(tx)
}

func (s *Store) Secret(key string) (string, error) {
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

func (s *Store) SetSecret(key, value string) error {
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

func (s *Store) Record(id syncengine.RecordID) (*syncengine.Record, error) {
	v, err := await(s.db.Call("transaction", stRecords).Call("objectStore", stRecords).Call("get", string(id)))
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	if v.IsUndefined() {
		return nil, nil
	}
	plain, err := s.open("rec:"+string(id), toGo(v))
	if err != nil {
		return nil, err
	}
	r, err := syncengine.DecodeRecord(plain)
	if err != nil {
		return nil, syncengine.Errorf(eCorrupt, "read record", "stored record %s does not decode", id)
	}
	return r, nil
}

// Records decodes every record and keeps those of type typ, in id order
// (the type is inside the sealed state; a phone holds hundreds, not millions).
func (s *Store) Records(typ string) ([]*syncengine.Record, error) {
	keys, vals, err := s.all(stRecords)
	if err != nil {
		return nil, err
	}
	var out []*syncengine.Record
	for i := range keys {
		id := keys[i].String()
		plain, err := s.open("rec:"+id, toGo(vals[i]))
		if err != nil {
			return nil, err
		}
		r, err := syncengine.DecodeRecord(plain)
		if err != nil {
			return nil, syncengine.Errorf(eCorrupt, "read record", "stored record %s does not decode", id)
		}
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Store) PutSnapshot(recs []*syncengine.Record) error {
	sealed := make([][]byte, len(recs))
	for i, r := range recs {
		var err error
		if sealed[i], err = s.seal("rec:"+string(r.ID), syncengine.EncodeRecord(r)); err != nil {
			return err
		}
	}
	tx := s.db.Call("transaction", stRecords, "readwrite")
	st := tx.Call("objectStore", stRecords)
	for i, r := range recs {
		st.Call("put", toJS(sealed[i]), string(r.ID))
	}
	return done(tx)
}

// Commit is the native store's Commit: record states, and for a new local
// save its outbox entry and the counter, in one transaction.
func (s *Store) Commit(cs *syncengine.Changeset, recs []*syncengine.Record) error {
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

// ---- outbox, inbox ----

func (s *Store) Outbox(maxBytes int) ([]localstore.Entry, error) {
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

func (s *Store) Acknowledge(starts []uint64) error {
	tx := s.db.Call("transaction", stOutbox, "readwrite")
	o := tx.Call("objectStore", stOutbox)
	for _, st := range starts {
		o.Call("delete", float64(st))
	}
	return done(tx)
}

func (s *Store) PutInbox(cs *syncengine.Changeset, frame []byte) error {
	b, err := s.seal(inboxAD(cs.Replica.String(), cs.Start), frame)
	if err != nil {
		return err
	}
	tx := s.db.Call("transaction", stInbox, "readwrite")
	tx.Call("objectStore", stInbox).Call("put", toJS(b), inboxKey(cs.Replica.String(), cs.Start))
	return done(tx)
}

func (s *Store) Inbox() ([]*syncengine.Changeset, error) {
	keys, vals, err := s.all(stInbox)
	if err != nil {
		return nil, err
	}
	var out []*syncengine.Changeset
	for i := range keys {
		replica, start := keys[i].Index(0).String(), uint64(keys[i].Index(1).Float())
		body, err := s.open(inboxAD(replica, start), toGo(vals[i]))
		if err != nil {
			return nil, err
		}
		cs, err := syncengine.DecodeChangeset(body)
		if err != nil {
			return nil, syncengine.Errorf(eCorrupt, "read inbox", "held changeset does not decode")
		}
		out = append(out, cs)
	}
	return out, nil
}

func (s *Store) Counts() (outbox, inbox int64, err error) {
	tx := s.db.Call("transaction", js.ValueOf([]any{stOutbox, stInbox}))
	o := tx.Call("objectStore", stOutbox).Call("count")
	i := tx.Call("objectStore", stInbox).Call("count")
	ov, err := await(o)
	if err != nil {
		return 0, 0, err
	}
	iv, err := await(i)
	if err != nil {
		return 0, 0, err
	}
	return int64(ov.Int()), int64(iv.Int()), nil
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

// Wipe deletes the database, and with it the key.
func (s *Store) Wipe() error {
	s.db.Call("close")
	if _, err := await(js.Global().Get("indexedDB").Call("deleteDatabase", s.name)); err != nil {
		return fmt.Errorf("delete local store: %w", err)
	}
	return nil
}

func (s *Store) Close() error {
	s.db.Call("close")
	return nil
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
