package notify_test

import (
	"testing"
)

// BenchmarkReferralRoundTrip is one referral's life through sync with the
// rules installed: submitted (handoffs, escalation, the pick-up follow-up and
// its notifications), then accepted (cancellations, the answer, the
// follow-up closed). Compare ns/op across changes to the apply path.
func BenchmarkReferralRoundTrip(b *testing.B) {
	e := newEnv(b)
	worker, prac := e.phone("w_a"), e.phone("prac_h1")
	yp := worker.youngPerson("Jamie", false)
	worker.sync()
	b.ResetTimer()
	for range b.N {
		ref := worker.referral(yp, "urgent", reason)
		worker.sync()
		prac.sync()
		prac.answer(ref, "accepted", "")
		prac.sync()
	}
}
