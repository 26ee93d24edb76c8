package domain

import (
	"fmt"
	"slices"

	"github.com/joinedup/joinedup/syncengine"
)

// Held changesets (waiting for a missing dependency) and the bounds on what
// one device can make the server keep of the changesets it refused, shared
// by both stores. A held changeset must keep its body to be retried, so
// beyond its bound it is refused and not stored (the phone keeps it); a
// changeset refused for any other reason keeps its body only within the
// bound, and beyond it its digest and size.

// QuarantineBounds are the per-device bounds.
type QuarantineBounds struct {
	HeldMaxCount int   // open held changesets per device
	HeldMaxBytes int64 // their bodies, per device
	BodyMax      int   // the largest body kept
	DeviceBytes  int64 // bodies of a device's open items, held or not
}

// DefaultQuarantineBounds are the stores' defaults.
var DefaultQuarantineBounds = QuarantineBounds{HeldMaxCount: 1000, HeldMaxBytes: 16 << 20, BodyMax: 256 << 10, DeviceBytes: 32 << 20}

// QuarantineUsage is what a device's open items hold; a store counts it
// once per transaction and keeps it up to date, so a flood of refused
// changesets in one request is bounded without a query per changeset.
type QuarantineUsage struct {
	Held            int   // held (missing_dependency) items
	HeldBytes, Kept int64 // their body sizes; bodies kept, held or not
}

// Hold counts a held body of size, or reports (EHELDLIMIT) that the device
// is over a bound, counting nothing.
func (u *QuarantineUsage) Hold(b QuarantineBounds, size int64) error {
	if u.Held >= b.HeldMaxCount || u.HeldBytes+size > b.HeldMaxBytes || size > int64(b.BodyMax) || u.Kept+size > b.DeviceBytes {
		return Errorf(EHELDLIMIT, "hold changeset", "this change (%d bytes) depends on changes the server does not have, and this device already has %d changes (%d bytes) waiting: keep it and send it again after the changes it depends on", size, u.Held, u.HeldBytes)
	}
	u.Held++
	u.HeldBytes += size
	u.Kept += size
	return nil
}

// Keep reports whether a refused body of size is kept (and counts it).
func (u *QuarantineUsage) Keep(b QuarantineBounds, size int64) bool {
	if size > int64(b.BodyMax) || u.Kept+size > b.DeviceBytes {
		return false
	}
	u.Kept += size
	return true
}

// HeldMessage is what a phone is told about a held changeset (missing nil:
// a record it touches is damaged on the server).
func HeldMessage(missing []syncengine.Dep) string {
	if missing == nil {
		return "a record this change touches is damaged on the server; the change is kept and applied once it is repaired"
	}
	return fmt.Sprintf("changeset depends on changes the server does not have (%d records)", len(missing))
}

// Wait is one thing a held changeset waits for: a change of Replica to
// Record ("*": any change to it).
type Wait struct{ Record, Replica string }

// AnyReplica is a Wait's replica for "any change".
const AnyReplica = "*"

// HeldWaits lists what a held changeset waits for: each (record, replica)
// whose changes the server lacks. A record's version vector only grows
// when a changeset of that replica touching it is stored, so that is
// exactly when to try it again. have returns a record's version vector
// (damaged: the record is unreadable, so any change to it wakes the item).
func HeldWaits(missing []syncengine.Dep, have func(syncengine.RecordID) (vv syncengine.VV, damaged bool, err error)) ([]Wait, error) {
	var out []Wait
	for _, d := range missing {
		vv, damaged, err := have(d.Record)
		if err != nil {
			return nil, err
		}
		if damaged {
			out = append(out, Wait{string(d.Record), AnyReplica})
			continue
		}
		for _, e := range d.VV {
			if vv.Get(e.Replica) < e.Seq {
				out = append(out, Wait{string(d.Record), e.Replica.String()})
			}
		}
	}
	return out, nil
}

// HeldQueue is the held items woken in one transaction, each queued once
// until it is taken.
type HeldQueue struct {
	ids    []int64
	queued map[int64]bool
}

// Wake queues ids not already queued.
func (q *HeldQueue) Wake(ids ...int64) {
	for _, id := range ids {
		if q.queued == nil {
			q.queued = map[int64]bool{}
		}
		if !q.queued[id] {
			q.queued[id] = true
			q.ids = append(q.ids, id)
		}
	}
}

// Next takes the next woken item (false: none left).
func (q *HeldQueue) Next() (int64, bool) {
	if len(q.ids) == 0 {
		return 0, false
	}
	id := q.ids[0]
	q.ids = q.ids[1:]
	delete(q.queued, id)
	return id, true
}

// Retryable is the changeset of a woken held item, if it can be tried
// again: still open, still held for a missing dependency, its body kept
// and decodable, and pushed by a device. Otherwise it is left for a
// person and no longer waits for anything.
func Retryable(reviewed bool, code string, body []byte, device string) (*syncengine.Changeset, bool) {
	if reviewed || code != EMISSINGDEP || body == nil || device == "" {
		return nil, false
	}
	cs, err := syncengine.DecodeChangeset(body)
	return cs, err == nil
}

// HeldItem is a held item as DrainHeld reads it: who pushed it, why it was
// held, its body, and whether a person has reviewed it.
type HeldItem struct {
	Device   string
	Code     string
	Body     []byte
	Reviewed bool
}

// HeldRetrier is what DrainHeld needs of a store's storing transaction.
type HeldRetrier interface {
	// HeldItem reads (and, where the store can, locks) a held item; ok is
	// false when it is gone.
	HeldItem(id int64) (item HeldItem, ok bool, err error)
	// ForgetHeld stops item id waiting for anything: it is left for a person.
	ForgetHeld(id int64) error
	// ActiveDevice is device id if it exists and is active.
	ActiveDevice(id string) (Device, bool)
	// RetryHeld pushes cs again as dev, in the same transaction.
	RetryHeld(id int64, dev Device, cs *syncengine.Changeset, res *SyncResult) error
}

// DrainHeld tries again, each as its own device, the items q has woken and
// those their acceptance wakes in turn, adding the scope keys they touch to
// res for the live channel. An item that cannot be retried (reviewed, not
// held for a dependency, no body, its device gone or not active) is
// forgotten rather than tried on every later push.
func DrainHeld(q *HeldQueue, r HeldRetrier, res *SyncResult) error {
	for {
		id, ok := q.Next()
		if !ok {
			return nil
		}
		item, ok, err := r.HeldItem(id)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		cs, ok := Retryable(item.Reviewed, item.Code, item.Body, item.Device)
		if !ok {
			if err := r.ForgetHeld(id); err != nil {
				return err
			}
			continue
		}
		dev, ok := r.ActiveDevice(item.Device)
		if !ok {
			if err := r.ForgetHeld(id); err != nil {
				return err
			}
			continue
		}
		var sub SyncResult
		if err := r.RetryHeld(id, dev, cs, &sub); err != nil {
			return err
		}
		for _, k := range sub.Touched {
			if !slices.Contains(res.Touched, k) {
				res.Touched = append(res.Touched, k)
			}
		}
	}
}
