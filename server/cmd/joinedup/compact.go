package main

import (
	"context"
	"time"
)

// compactEvery is how often acknowledged sync history is folded away;
// linksEvery how often changed encounters are filed under the young people
// they name (domain.Operations.RefreshLinks).
const (
	compactEvery = time.Hour
	linksEvery   = time.Minute
)

// mountCompaction starts the store's background passes. Every minute, the
// encounters changed since the last pass are filed under their young
// people, so a history opened on a phone reads links rather than decoding
// a backlog inside its request (a year's backlog took 3.3 s). Every hour,
// changesets that every active phone (seen within Config.HistoryKeep) has
// pulled are deleted from the log (CompactLog; HistoryKeep 0 turns it off),
// then the text tombstones of records of at least Config.TextCompactMin
// bytes no device can still need are dropped (CompactText; 0 turns it off).
func mountCompaction(m *Main) error {
	stopLinks := every(linksEvery, nil, func(ctx context.Context) {
		if err := m.DB.RefreshLinks(ctx); err != nil && ctx.Err() == nil {
			m.Logger.Error("file encounters under young people", "err", err)
		}
	})
	if m.Config.HistoryKeep <= 0 && m.Config.TextCompactMin <= 0 {
		m.stopCompact = stopLinks
		return nil
	}
	stopHistory := every(compactEvery, nil, func(ctx context.Context) {
		if m.Config.HistoryKeep > 0 {
			res, err := m.DB.CompactLog(ctx, m.Config.HistoryKeep)
			if err != nil {
				m.Logger.Error("compact sync history", "err", err)
			} else if res.Changesets > 0 {
				m.Logger.Info("compacted sync history", "through", res.Through, "changesets", res.Changesets)
			}
		}
		if m.Config.TextCompactMin > 0 {
			res, err := m.DB.CompactText(ctx, m.Config.TextCompactMin, m.Config.HistoryKeep)
			if err != nil {
				m.Logger.Error("compact text", "err", err)
			} else if res.Compacted > 0 {
				m.Logger.Info("compacted text", "records", res.Compacted, "tombstones", res.Dropped,
					"bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter, "waiting", res.Waiting)
			}
		}
	})
	m.stopCompact = func() { stopHistory(); stopLinks() }
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
