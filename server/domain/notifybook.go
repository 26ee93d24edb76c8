package domain

import "slices"

// NotificationBook keeps one settle's notification intents in memory until
// its store writes them (Take), so a notification enqueued and cancelled in
// the same settle never reaches the outbox, and a cancel is sent to the
// outbox only for a record that may have pending rows there. Both stores'
// intent writers embed it and keep only the SQL.
type NotificationBook struct {
	pending   []Notification
	cancelled []bool           // by index in pending
	byRecord  map[string][]int // indexes in pending, by record id
	// Most cancels find nothing to cancel (a referral withdrawn before
	// anyone was told): which of the changed records had pending
	// notifications is read once (Changed, HadPending), and a cancel for a
	// record known to have had none is not sent.
	known, hadPending map[string]bool
	// dbCancels are the (record id, kind) pairs to cancel among the
	// notifications pending before this settle; kind "" is every kind.
	dbCancels    [][2]string
	dbCancelSeen map[[2]string]bool
}

// Changed notes the records of changes as known and returns their ids, once
// each, for the store to look up which had pending notifications
// (HadPending). Records changed later (the rules' own edits) are not known,
// and their cancels are always sent.
func (b *NotificationBook) Changed(changes []Change) []string {
	b.known, b.hadPending = map[string]bool{}, map[string]bool{}
	ids := make([]string, 0, len(changes))
	for _, c := range changes {
		if id := string(c.After.ID); !b.known[id] {
			b.known[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// HadPending notes that record id had pending notifications in the outbox.
func (b *NotificationBook) HadPending(id string) { b.hadPending[id] = true }

// CancelNotifications cancels the matching notifications of this settle and
// notes the cancel for the outbox when the record may have pending ones.
func (b *NotificationBook) CancelNotifications(c CancelNotifications) error {
	for _, i := range b.byRecord[c.RecordID] {
		if !b.cancelled[i] && (len(c.Kinds) == 0 || slices.Contains(c.Kinds, b.pending[i].Kind)) {
			b.cancelled[i] = true
		}
	}
	if b.known[c.RecordID] && !b.hadPending[c.RecordID] {
		return nil
	}
	kinds := c.Kinds
	if len(kinds) == 0 {
		kinds = []string{""}
	}
	if b.dbCancelSeen == nil {
		b.dbCancelSeen = map[[2]string]bool{}
	}
	for _, k := range kinds {
		if p := [2]string{c.RecordID, k}; !b.dbCancelSeen[p] {
			b.dbCancelSeen[p] = true
			b.dbCancels = append(b.dbCancels, p)
		}
	}
	return nil
}

// Enqueue validates ns and keeps them; none is kept if one is invalid.
func (b *NotificationBook) Enqueue(ns ...Notification) error {
	for _, n := range ns {
		if err := n.Validate(); err != nil {
			return err
		}
	}
	if b.byRecord == nil {
		b.byRecord = map[string][]int{}
	}
	for _, n := range ns {
		b.byRecord[n.RecordID] = append(b.byRecord[n.RecordID], len(b.pending))
		b.pending = append(b.pending, n)
		b.cancelled = append(b.cancelled, false)
	}
	return nil
}

// Take returns what the store must write, in this order: the outbox
// cancels ((record id, kind) pairs, kind "" every kind), then the
// notifications with whether each was cancelled since (stored so). It
// forgets them, keeping what is known of the outbox for the next round.
func (b *NotificationBook) Take() (cancels [][2]string, ns []Notification, cancelled []bool) {
	cancels, ns, cancelled = b.dbCancels, b.pending, b.cancelled
	*b = NotificationBook{known: b.known, hadPending: b.hadPending}
	return cancels, ns, cancelled
}
