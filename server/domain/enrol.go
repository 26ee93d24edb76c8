package domain

import "time"

// EnrolRetryWindow is how long after a code was used the same install may
// ask again and get its device back (the first answer was lost on the way).
const EnrolRetryWindow = 10 * time.Minute

// EnrolRequest is a phone's enrolment: the one-time code, and optionally
// InstallID, a random id the phone keeps for the attempt (a retry with the
// same code and InstallID within EnrolRetryWindow gets the same device and
// replica back, with a fresh credential), and ReplicaID, the replica id the
// phone already writes with (re-enrolment after a restore or a re-issued
// code: its unsent and unconfirmed saves carry that id and stay valid).
type EnrolRequest struct {
	Code      string
	Platform  string
	InstallID string
	ReplicaID string
}
