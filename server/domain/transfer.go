package domain

import "time"

// Transfer statuses.
const (
	TransferPending   = "pending"
	TransferAccepted  = "accepted"
	TransferDeclined  = "declined"
	TransferCancelled = "cancelled"
)

// Transfer decisions (DecideTransfer).
const (
	DecisionAccept  = "accept"  // a supervisor of the receiving team (or an admin)
	DecisionDecline = "decline" // a supervisor of the receiving team (or an admin)
	DecisionCancel  = "cancel"  // a supervisor of the source team (or an admin)
)

// ActionTransfer is the audit action of every step of a transfer.
const ActionTransfer = "transfer"

// Transfer moves a young person, with their referrals and follow-ups, from
// one team to another: started by a supervisor of the source team, accepted
// (or declined) by a supervisor of the receiving team, or by an admin.
// Nothing moves until it is accepted; then the server moves the records.
type Transfer struct {
	ID            int64     `json:"id"`
	YoungPersonID string    `json:"young_person_id"`
	FromTeam      string    `json:"from_team"`
	ToTeam        string    `json:"to_team"`
	Status        string    `json:"status"`
	Reason        string    `json:"reason"`
	RequestedBy   string    `json:"requested_by"`
	RequestedAt   time.Time `json:"requested_at"`
	DecidedBy     string    `json:"decided_by,omitempty"`
	DecidedAt     time.Time `json:"decided_at"`
}

// TransferFilter narrows Transfers. Viewer limits the list to transfers from
// or to the viewer's teams (all for an admin).
type TransferFilter struct {
	Viewer        Scope
	Status        string
	YoungPersonID string
}
