package push_test

import (
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/push"
)

func TestNextAllowed(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	at := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, london) }
	nineToFive := []push.Hours{}
	for d := time.Monday; d <= time.Friday; d++ {
		nineToFive = append(nineToFive, push.Hours{Weekday: d, Start: "09:00", End: "17:00"})
	}
	youthWorker := []push.Hours{ // evenings, crossing midnight on Friday and Saturday, and weekend days
		{Weekday: time.Tuesday, Start: "16:00", End: "22:00"},
		{Weekday: time.Friday, Start: "18:00", End: "02:00"},
		{Weekday: time.Saturday, Start: "12:00", End: "01:00"},
		{Weekday: time.Sunday, Start: "12:00", End: "18:00"},
	}
	tests := []struct {
		name  string
		now   time.Time
		tz    string
		hours []push.Hours
		want  time.Time
	}{
		{"no hours: any time", at(2026, 3, 7, 3, 0), "Europe/London", nil, at(2026, 3, 7, 3, 0)},
		{"inside 9-5", at(2026, 3, 4, 11, 30), "Europe/London", nineToFive, at(2026, 3, 4, 11, 30)},
		{"at start is inside", at(2026, 3, 4, 9, 0), "Europe/London", nineToFive, at(2026, 3, 4, 9, 0)},
		{"at end is outside", at(2026, 3, 4, 17, 0), "Europe/London", nineToFive, at(2026, 3, 5, 9, 0)},
		{"before opening", at(2026, 3, 4, 7, 0), "Europe/London", nineToFive, at(2026, 3, 4, 9, 0)},
		{"friday evening waits for monday", at(2026, 3, 6, 18, 0), "Europe/London", nineToFive, at(2026, 3, 9, 9, 0)},
		{"saturday waits for monday", at(2026, 3, 7, 10, 0), "Europe/London", nineToFive, at(2026, 3, 9, 9, 0)},
		{"youth worker monday morning waits for tuesday evening", at(2026, 3, 2, 9, 0), "Europe/London", youthWorker, at(2026, 3, 3, 16, 0)},
		{"friday shift past midnight is inside", at(2026, 3, 7, 1, 30), "Europe/London", youthWorker, at(2026, 3, 7, 1, 30)},
		{"saturday 03:00 after shift waits till noon", at(2026, 3, 7, 3, 0), "Europe/London", youthWorker, at(2026, 3, 7, 12, 0)},
		{"saturday shift into sunday", at(2026, 3, 8, 0, 45), "Europe/London", youthWorker, at(2026, 3, 8, 0, 45)},
		{"other zone", time.Date(2026, 3, 4, 15, 0, 0, 0, time.UTC), "America/New_York", nineToFive, time.Date(2026, 3, 4, 15, 0, 0, 0, time.UTC)},
		{"other zone before opening", time.Date(2026, 3, 4, 13, 0, 0, 0, time.UTC), "America/New_York", nineToFive, time.Date(2026, 3, 4, 14, 0, 0, 0, time.UTC)},
		// DST: clocks go forward in London on Sunday 29 March 2026 at 01:00 -> 02:00.
		{"9-5 after spring forward is 08:00 UTC", time.Date(2026, 3, 27, 18, 0, 0, 0, time.UTC), "Europe/London", nineToFive, time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC)},
		{"shift across the spring-forward night", at(2026, 3, 28, 12, 0).Add(13 * time.Hour), "Europe/London",
			[]push.Hours{{Weekday: time.Saturday, Start: "23:00", End: "03:00"}}, at(2026, 3, 28, 12, 0).Add(13 * time.Hour)},
		// Clocks go back on Sunday 25 October 2026 at 02:00 BST -> 01:00 GMT: 01:30 happens twice.
		{"second 01:30 on fall-back night is inside the shift", time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), "Europe/London",
			[]push.Hours{{Weekday: time.Saturday, Start: "20:00", End: "02:00"}}, time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)},
		{"9-5 after fall back is 09:00 UTC", time.Date(2026, 10, 23, 18, 0, 0, 0, time.UTC), "Europe/London", nineToFive, time.Date(2026, 10, 26, 9, 0, 0, 0, time.UTC)},
		{"24:00 end", at(2026, 3, 4, 23, 59), "Europe/London", []push.Hours{{Weekday: time.Wednesday, Start: "20:00", End: "24:00"}}, at(2026, 3, 4, 23, 59)},
		{"start == end is a whole day", at(2026, 3, 5, 7, 0), "Europe/London", []push.Hours{{Weekday: time.Wednesday, Start: "08:00", End: "08:00"}}, at(2026, 3, 5, 7, 0)},
		{"unknown zone is UTC", time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC), "Mars/Olympus", nineToFive, time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)},
		{"only bad windows: never held", at(2026, 3, 4, 8, 0), "Europe/London", []push.Hours{{Weekday: time.Monday, Start: "9am", End: "5pm"}}, at(2026, 3, 4, 8, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := push.NextAllowed(tc.now, tc.tz, tc.hours)
			if !got.Equal(tc.want) {
				t.Errorf("NextAllowed(%v) = %v, want %v", tc.now.In(london), got.In(london), tc.want.In(london))
			}
		})
	}
}

func TestValidateHours(t *testing.T) {
	if err := push.ValidateHours("Europe/London", []push.Hours{{Weekday: time.Monday, Start: "09:00", End: "24:00"}}); err != nil {
		t.Error(err)
	}
	for _, h := range []push.Hours{{Start: "9:00", End: "17:00"}, {Start: "24:00", End: "01:00"}, {Start: "09:60", End: "10:00"}, {Weekday: 7, Start: "09:00", End: "10:00"}} {
		if push.ValidateHours("UTC", []push.Hours{h}) == nil {
			t.Errorf("%+v accepted", h)
		}
	}
	if push.ValidateHours("Nowhere/Else", nil) == nil {
		t.Error("bad zone accepted")
	}
}

// BenchmarkNextAllowed is one recipient's next working time, as the rules
// ask it for every notification they plan.
func BenchmarkNextAllowed(b *testing.B) {
	var hours []push.Hours
	for d := time.Monday; d <= time.Friday; d++ {
		hours = append(hours, push.Hours{Weekday: d, Start: "09:00", End: "17:00"})
	}
	now := time.Date(2026, 3, 6, 18, 0, 0, 0, time.UTC)
	for range b.N {
		push.NextAllowed(now, "Europe/London", hours)
	}
}
