package domain

import "time"

// SignInFailures is what the store remembers about failed staff sign-ins
// for one account name (a keyed hash of the e-mail address typed, whether or
// not anyone has it) from one client address, and for that account name from
// every client together. Counts restart after a success.
type SignInFailures struct {
	Pair        int       // failures by this client for this account name
	PairLast    time.Time // the last of them
	Account     int       // failures for this account name from any client
	AccountLast time.Time
}

// SignInAttempt is one staff sign-in attempt to record, with its audit entry.
type SignInAttempt struct {
	Account  []byte // hash of the normalised e-mail address typed
	Client   []byte // hash of the client's address
	PersonID string // "" when no account has that address
	OK       bool
	// Throttled: refused before the password was checked; counts nothing.
	Throttled bool
	// ForgetBefore: failures last seen before it are forgotten, not added to.
	ForgetBefore time.Time
	Via          string // "api" or "portal", for the audit entry
}
