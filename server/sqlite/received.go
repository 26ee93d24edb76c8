package sqlite

import (
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// receivedFrames indexes the request's canonical frames by changeset.
func receivedFrames(req domain.SyncRequest) map[*syncengine.Changeset][]byte {
	if len(req.Received) != len(req.Changesets) {
		return nil
	}
	m := make(map[*syncengine.Changeset][]byte, len(req.Changesets))
	for i, f := range req.Received {
		if f != nil {
			m[req.Changesets[i]] = f
		}
	}
	return m
}
