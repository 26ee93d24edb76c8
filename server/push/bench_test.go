package push_test

import (
	"fmt"
	"testing"

	"github.com/joinedup/joinedup/server/push"
)

// BenchmarkSendDue: b.N follow-ups due at once, one device each, through the real SDK to the
// fake FCM. bench/push/run.sh runs the 100,000 case with a bare-HTTP baseline.
func BenchmarkSendDue(b *testing.B) {
	e := newEnv(b)
	e.fake.Record = false
	ns := make([]push.Notification, b.N)
	for i := range b.N {
		e.token(b, fmt.Sprintf("d%d", i), fmt.Sprintf("p%d", i), fmt.Sprintf("tok-%d", i))
		ns[i] = note(id(i), fmt.Sprintf("p%d", i))
	}
	e.enqueue(b, ns...)
	s := e.sender(b)
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		n := sendDue(b, s)
		if n == 0 {
			b.Fatalf("stalled at %d", sent)
		}
		sent += n
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}
