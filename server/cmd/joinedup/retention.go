package main

import (
	"context"
	"time"
)

// retentionCheckEvery is how often the server asks whether the daily
// retention run is due (the store decides by its clock, so a restart does
// not run it twice in a day, and a server down at midnight catches up).
const retentionCheckEvery = time.Hour

// mountRetention starts the retention scheduler (sqlite.RunRetentionIfDue).
func mountRetention(m *Main) error {
	m.stopRetention = every(retentionCheckEvery, nil, func(ctx context.Context) {
		ran, res, err := m.DB.RunRetentionIfDue(ctx)
		if err != nil {
			m.Logger.Error("retention run", "err", err)
		} else if ran {
			m.Logger.Info("retention run", "run", res.ID, "removed", len(res.Removed), "held", res.Held)
		}
	})
	return nil
}
