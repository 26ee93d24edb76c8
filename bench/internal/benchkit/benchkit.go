// Package benchkit holds what the benchmark programs under bench/ share.
package benchkit

import (
	"crypto/rand"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// Replica is a phone's engine for the replica id the server gave it at
// enrolment, kept in memory, on the wall clock (benchmarks time real
// work). A malformed id is an error rather than a replica with the zero
// id, whose changesets the server would refuse.
func Replica(replicaID string) (*syncengine.Replica, error) {
	rid, err := syncengine.ParseReplicaID(replicaID)
	if err != nil {
		return nil, err
	}
	return syncengine.NewReplica(syncengine.Config{ID: rid, Now: time.Now, Rand: rand.Reader, Store: syncengine.NewMemStore()})
}
