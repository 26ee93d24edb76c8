package main

import (
	"context"
	"time"
)

// compactEvery is how often acknowledged sync history is folded away.
const compactEvery = time.Hour

// mountCompaction starts the history compactor: every hour, changesets that
// every active phone (seen within Config.HistoryKeep) has pulled are deleted
// from the log (CompactLog; HistoryKeep 0 turns it off), then the text
// tombstones of records of at least Config.TextCompactMin bytes no device can
// still need are dropped (CompactText; 0 turns it off).
func mountCompaction(m *Main) error {
	if m.Config.HistoryKeep <= 0 && m.Config.TextCompactMin <= 0 {
		return nil
	}
	m.stopCompact = every(compactEvery, nil, func(ctx context.Context) {
		if m.Config.HistoryKeep > 0 {
			res, err := m.DB.CompactLog(ctx, m.Config.HistoryKeep)
			if err != nil {
				m.Logger.Error("compact sync history", "err", err)
			} else if res.Changesets > 0 {
				m.Logger.Info("compacted sync history", "through", res.Through, "changesets", res.Changesets)
			}
		}
		if m.Config.TextCompactMin > 0 {
			res, err := m.DB.CompactText(ctx, m.Config.TextCompactMin)
			if err != nil {
				m.Logger.Error("compact text", "err", err)
			} else if res.Compacted > 0 {
				m.Logger.Info("compacted text", "records", res.Compacted, "tombstones", res.Dropped,
					"bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter, "waiting", res.Waiting)
			}
		}
	})
	return nil
}

// every runs first (if any) at once and then tick every interval in the
// background, until the returned stop is called (it waits for a run in
// progress to see its context cancelled and return).
func every(interval time.Duration, first, tick func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if first != nil {
			first(ctx)
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				tick(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}
