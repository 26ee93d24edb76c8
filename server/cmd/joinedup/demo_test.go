package main

import (
	"testing"
	"time"
)

// TestDemoDatasetAnyDay: `make run` places the demo around today, so it must
// replay cleanly through the engine whatever the day and hour, including the
// weeks where the clocks change.
func TestDemoDatasetAnyDay(t *testing.T) {
	var days []time.Time
	for _, start := range []time.Time{
		time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC),  // BST starts 29 March
		time.Date(2026, 10, 19, 0, 0, 0, 0, time.UTC), // BST ends 25 October
	} {
		for d := 0; d < 14; d++ {
			days = append(days, start.AddDate(0, 0, d).Add(time.Duration(d*7%24)*time.Hour))
		}
	}
	for _, now := range days {
		ds, seed := demoDataset(now)
		if len(ds.Encounters) == 0 {
			t.Fatalf("%v: no encounters", now)
		}
		for _, e := range ds.Encounters {
			if e.EndedAt.After(now) {
				t.Fatalf("%v: encounter %s ends in the future", now, e.ID)
			}
		}
		if _, err := ds.Changesets(seed); err != nil {
			t.Fatalf("%v: %v", now, err)
		}
	}
}
