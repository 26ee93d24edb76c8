package postgres

import (
	"fmt"
	"sync"

	"github.com/joinedup/joinedup/server/domain"
)

// The organisation's lookups (people, their supervised teams, services, and
// the policy's view of a person) are kept by each node across transactions
// while the organisation's version stands (migration 0225: triggers give
// it a new random value on every write to people, team_supervisors and
// services, on any node). A week's push asked for the same team's
// supervisors, assignees and services in each of its 363 requests.
//
// A transaction reads the version once (a push, in its prefetch batch) and
// uses the lookups of that version to its end. Under READ COMMITTED a
// lookup made after another node's change committed may land in the older
// version's memo; it is newer than the version, never older, and only
// transactions that read the version before that change use it.

// sharedFacts are a node's lookups of one version of the organisation,
// shared by its concurrent transactions.
type sharedFacts struct {
	mu      sync.Mutex
	version string
	memo    *factsMemo
}

// factsMemo holds the lookups of one version. Values are shared: callers
// must not modify them.
type factsMemo struct {
	mu      sync.Mutex
	person  map[string]domain.Person
	people  map[domain.PeopleFilter][]domain.Person
	service map[string]domain.Service
	actor   map[string]*domain.Actor // the policy's view (applier.Actor)
}

// orgFacts is the lookups memo of the organisation this transaction sees,
// bound once per applier.
func (a *applier) orgFacts() (*factsMemo, error) {
	if a.facts != nil {
		return a.facts, nil
	}
	v := a.orgVersion
	if v == "" {
		if err := a.tx.QueryRow(a.ctx, `SELECT version FROM org_version`).Scan(&v); err != nil {
			return nil, fmt.Errorf("organisation version: %w", err)
		}
	}
	sf := &a.tx.db.orgFacts
	sf.mu.Lock()
	if sf.memo == nil || sf.version != v {
		sf.version, sf.memo = v, &factsMemo{}
	}
	a.facts = sf.memo
	sf.mu.Unlock()
	return a.facts, nil
}

// memo returns (*m)[k], reading it with load the first time (a failed read
// is not kept). Two transactions may both load a missing key; either
// answer is of the version.
func memo[K comparable, V any](mu *sync.Mutex, m *map[K]V, k K, load func() (V, error)) (V, error) {
	mu.Lock()
	v, ok := (*m)[k]
	mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	mu.Lock()
	if *m == nil {
		*m = map[K]V{}
	}
	(*m)[k] = v
	mu.Unlock()
	return v, nil
}
