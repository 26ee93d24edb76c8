package domain

import "time"

// StaffSession is a signed-in staff member's browser session. Only the
// SHA-256 of the cookie's token is kept, so a copy of the store cannot be used
// to sign in.
type StaffSession struct {
	TokenHash []byte
	PersonID  string
	CSRF      string // the token every form of the session must echo back
	Created   time.Time
	LastSeen  time.Time
	Expires   time.Time
}
