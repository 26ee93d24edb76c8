package main

import (
	"context"
	"time"
)

// compactEvery is how often acknowledged sync history is folded away.
const compactEvery = time.Hour

// mountCompaction starts the history compactor: every hour, changesets that
// every active phone (seen within Config.HistoryKeep) has pulled are deleted
// from the log (sqlite.CompactLog). HistoryKeep 0 turns it off.
func mountCompaction(m *Main) error {
	if m.Config.HistoryKeep <= 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(compactEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				res, err := m.DB.CompactLog(ctx, m.Config.HistoryKeep)
				if err != nil {
					m.Logger.Error("compact sync history", "err", err)
					continue
				}
				if res.Changesets > 0 {
					m.Logger.Info("compacted sync history", "through", res.Through, "changesets", res.Changesets)
				}
			}
		}
	}()
	m.stopCompact = func() { cancel(); <-done }
	return nil
}
