package syncengine

import "flag"

var (
	flagSchedules    = flag.Int("schedules", 2000, "random schedules for the convergence property")
	flagScheduleSeed = flag.Uint64("schedule-seed", 0, "run one schedule seed only")
)
