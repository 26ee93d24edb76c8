package syncengine

import (
	"strconv"
)

func itoa(i int) string { return strconv.Itoa(i) }

// ApplyStatus says what applying a changeset did.
type ApplyStatus int

const (
	Applied   ApplyStatus = iota + 1 // new state produced
	Duplicate                        // already applied here: nothing to do
	Pending                          // its causal context is not here yet
)

func (s ApplyStatus) String() string {
	switch s {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case Pending:
		return "pending"
	}
	return "unknown"
}

// Result is the outcome of Apply.
type Result struct {
	Status  ApplyStatus
	Before  map[RecordID]*Record // the touched records as they were (nil entries: did not exist)
	Records []*Record            // with Applied: the new states of the touched records, in dep order
	Missing []Dep                // with Pending: what is not here yet
}

// RecordGetter loads a record's current state; it returns nil, nil when the
// record does not exist. The server reads SQLite, a phone its local store.
type RecordGetter func(RecordID) (*Record, error)

// Apply computes the effect of a changeset on the records it touches without
// changing them: it returns new states (clones) to be stored by the caller,
// all of them or none. It is deterministic: the result depends only on the
// changeset and the states given, so any order of delivery converges.
func Apply(cs *Changeset, get RecordGetter) (*Result, error) {
	return apply(cs, get, nil, false)
}

// ApplyUnseen is Apply for a changeset its holder knows it has never
// applied. Apply takes a record that holds a later changeset of the same
// replica to hold this one too, as a replica's changesets reach a holder in
// order; a server breaks that order when it keeps a changeset aside
// (quarantined for review, or held for a dependency) while the phone, having
// dropped it, saves more to the same records. Applied later, it must still
// be applied whole: ApplyUnseen never answers Duplicate.
func ApplyUnseen(cs *Changeset, get RecordGetter) (*Result, error) {
	return apply(cs, get, nil, true)
}

// apply is Apply; worked holds records with every op of cs on them already
// applied (a local save's working copies, built op by op through the same
// applyOp): they are taken as they are instead of cloned and applied again,
// which for a long note was the second whole copy of its text per keystroke.
func apply(cs *Changeset, get RecordGetter, worked map[RecordID]*Record, unseen bool) (*Result, error) {
	if err := cs.Check(); err != nil {
		return nil, err
	}
	res := &Result{Before: make(map[RecordID]*Record, len(cs.Deps))}
	// A record may already hold this changeset while another it touches does
	// not: a snapshot of one record reached this replica, history for the
	// other. Duplicates are therefore decided per record, and the changeset is
	// applied to the records that lack it. Ops never refer across records, so
	// this is the same as applying it whole.
	// has and next are per dep, in dep order: Check has made the deps sorted
	// and unique and every op's record one of them, so an op finds its record
	// by cs.depIndex without the two maps this used to build per changeset.
	var hasBuf [4]bool
	has := append(hasBuf[:0], make([]bool, len(cs.Deps))...)
	nhas := 0
	for i, d := range cs.Deps {
		r, err := get(d.Record)
		if err != nil {
			return nil, err
		}
		res.Before[d.Record] = r
		if r != nil && r.VV.Get(cs.Replica) >= cs.Start && !unseen {
			has[i] = true
			nhas++
		}
	}
	if nhas == len(cs.Deps) {
		res.Status = Duplicate
		return res, nil
	}
	for i, d := range cs.Deps {
		if has[i] {
			continue
		}
		var have VV
		if r := res.Before[d.Record]; r != nil {
			have = r.VV
		}
		if !have.Covers(d.VV) {
			res.Missing = append(res.Missing, d)
		}
	}
	if len(res.Missing) > 0 {
		res.Status = Pending
		return res, nil
	}
	var nextBuf [4]*Record
	next := append(nextBuf[:0], make([]*Record, len(cs.Deps))...)
	var sharesBuf [4]bool
	sharesAuthors := append(sharesBuf[:0], make([]bool, len(cs.Deps))...)
	for i, d := range cs.Deps {
		switch r := res.Before[d.Record]; {
		case has[i]:
		case worked[d.Record] != nil:
			next[i] = worked[d.Record]
		case r != nil:
			next[i] = r.cowSharingAuthors()
			sharesAuthors[i] = true
		default:
			next[i] = newRecord(d.Record)
		}
	}
	// Op ids counted here as OpIDs counts them, without its slice.
	seq := cs.Start
	for i := range cs.Ops {
		op := &cs.Ops[i]
		id := ID{cs.Replica, seq}
		seq += op.width()
		if op.Kind == OpOmitted {
			continue
		}
		r := next[cs.depIndex(op.Record)]
		if r == nil || worked[op.Record] != nil {
			continue
		}
		if err := r.applyOp(op, id, cs.Time, cs.Author); err != nil {
			return nil, err
		}
	}
	end := seq - 1 // cs.End(), whose Span counts the runes of every insert again
	for i, r := range next {
		if r == nil {
			continue
		}
		r.VV = r.VV.Set(cs.Replica, end)
		if cs.Time > r.Updated {
			r.Updated = cs.Time
		}
		// Attribution is deterministic whatever the order: the smallest author
		// id that wrote through a replica is kept.
		if r.Erased == nil {
			if a, ok := r.Authors[cs.Replica]; !ok || cs.Author < a {
				if sharesAuthors[i] {
					r.Authors = cloneMap(r.Authors)
				}
				r.Authors[cs.Replica] = cs.Author
			}
		}
		res.Records = append(res.Records, r)
	}
	res.Status = Applied
	return res, nil
}

// RedactChangeset replaces the ops on erased records in a stored changeset
// with placeholders of the same counter width, so that erasure reaches history
// too while the changeset keeps its identity, op ids and deps (replicas still
// see it as delivered, and dependants still apply). It reports whether
// anything was redacted.
func RedactChangeset(cs *Changeset, erased func(RecordID) bool) (*Changeset, bool) {
	var out *Changeset
	for i := range cs.Ops {
		op := &cs.Ops[i]
		// The create op stays: a record's type is not its content, and every
		// replica must agree on it.
		if op.Kind == OpCreate || op.Kind == OpErase || op.Kind == OpRedacted || op.Kind == OpOmitted || !erased(op.Record) {
			continue
		}
		if out == nil {
			c := *cs
			c.Ops = append([]Op(nil), cs.Ops...)
			out = &c
		}
		out.Ops[i] = Op{Kind: OpRedacted, Record: op.Record, Delta: int64(op.width())}
	}
	if out == nil {
		return cs, false
	}
	return out, true
}

// RestrictChangeset limits a changeset to the records keep accepts, for a
// receiver that may see only some of them (a phone sees its own team's
// records). Ops on other records become placeholders of the same counter
// width, so op ids and the changeset's identity are unchanged, and their
// deps are dropped: the receiver learns nothing about those records. It
// reports false when no record is kept.
func RestrictChangeset(cs *Changeset, keep func(RecordID) bool) (*Changeset, bool) {
	out := *cs
	out.Deps = nil
	for _, d := range cs.Deps {
		if keep(d.Record) {
			out.Deps = append(out.Deps, d)
		}
	}
	switch len(out.Deps) {
	case 0:
		return nil, false
	case len(cs.Deps):
		return cs, true
	}
	out.Ops = make([]Op, len(cs.Ops))
	for i, op := range cs.Ops {
		if op.Kind == OpOmitted || keep(op.Record) {
			out.Ops[i] = op
			continue
		}
		out.Ops[i] = Op{Kind: OpOmitted, Delta: int64(op.width())}
	}
	return &out, true
}
