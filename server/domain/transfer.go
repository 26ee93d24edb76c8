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

// CheckStartTransfer is the rule for asking to move a young person filed
// under team from to team to (toExists: the store found that team): the
// asker must be allowed to transfer out of from, and to must be another,
// existing team. Both stores call it between their reads and their insert.
func CheckStartTransfer(by Scope, from, to string, toExists bool) error {
	const op = "start transfer"
	if err := Authorize(ActorOf(by, nil), Action{Verb: VerbTransfer}, Target{Type: TypeYoungPerson, Team: from, Exists: true}); err != nil {
		return err
	}
	if !toExists {
		return Errorf(EINVALID, op, "there is no team %q", to)
	}
	if to == from {
		return Errorf(EINVALID, op, "the young person is already in that team")
	}
	return nil
}

// ErrTransferPending answers a second transfer of a young person while one waits.
var ErrTransferPending = Errorf(ECONFLICT, "start transfer", "a transfer of this young person is already waiting for a decision")

// DecideTransfer is the rule for a decision on t: accepting and declining
// are the receiving team's supervisors' (or an admin's), cancelling the
// source team's. It returns the status t moves to.
func DecideTransfer(by Scope, t Transfer, decision string) (string, error) {
	const op = "decide transfer"
	if t.Status != TransferPending {
		return "", Errorf(ECONFLICT, op, "this transfer was already %s", t.Status)
	}
	who := ActorOf(by, nil)
	yp := Target{Type: TypeYoungPerson, Exists: true}
	var err error
	switch decision {
	case DecisionAccept, DecisionDecline:
		yp.Team = t.ToTeam
		err = Authorize(who, Action{Verb: VerbReceive}, yp)
	case DecisionCancel:
		yp.Team = t.FromTeam
		err = Authorize(who, Action{Verb: VerbTransfer}, yp)
	default:
		return "", Errorf(EINVALID, op, "decision must be accept, decline or cancel")
	}
	if err != nil {
		return "", err
	}
	return map[string]string{DecisionAccept: TransferAccepted, DecisionDecline: TransferDeclined, DecisionCancel: TransferCancelled}[decision], nil
}

// CheckTransferStillFiled is the rule at acceptance: the young person must
// still exist (found) and be filed under the team the transfer was asked from.
func CheckTransferStillFiled(t Transfer, found bool, team string) error {
	const op = "transfer young person"
	if !found {
		return Errorf(ECONFLICT, op, "the young person's records were erased since the transfer was asked for")
	}
	if team != t.FromTeam {
		return Errorf(ECONFLICT, op, "the young person is no longer filed under the team the transfer was asked from")
	}
	return nil
}

// TransferAudit is the audit entry of a step of a transfer.
func TransferAudit(by string, t Transfer, step string) AuditEntry {
	return AuditEntry{PersonID: by, Action: ActionTransfer, RecordID: t.YoungPersonID,
		Detail: map[string]any{"transfer_id": t.ID, "step": step, "from_team": t.FromTeam, "to_team": t.ToTeam, "status": t.Status}}
}
