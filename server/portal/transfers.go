package portal

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
)

// Transfers is moving young people between teams (see domain.Transfer).
type Transfers interface {
	StartTransfer(ctx context.Context, by domain.Person, youngPersonID, toTeam, reason string) (domain.Transfer, error)
	DecideTransfer(ctx context.Context, by domain.Person, id int64, decision string) (domain.Transfer, error)
	Transfers(ctx context.Context, f domain.TransferFilter) ([]domain.Transfer, error)
}

func registerTransferRoutes(r routes, p *Portal) {
	r.Get("/transfers", p.handleTransfers)
	r.Post("/transfers/:id", p.handleDecideTransfer)
	r.Post("/young-people/:id/transfer", p.handleStartTransfer)
}

type transferRow struct {
	domain.Transfer
	Who, From, To, YoungPerson string
	Incoming, Outgoing         bool // the viewer may accept/decline, or cancel
}

// transferRows describes transfers for the viewer, with what they may do.
func (p *Portal) transferRows(c *fiber.Ctx, d *directory, f domain.TransferFilter) ([]transferRow, error) {
	f.Viewer = sess(c).Scope
	ts, err := p.store.Transfers(c.UserContext(), f)
	if err != nil {
		return nil, err
	}
	who := domain.ActorOf(f.Viewer, nil)
	may := func(v domain.Verb, team string) bool {
		return domain.Authorize(who, domain.Action{Verb: v}, domain.Target{Type: domain.TypeYoungPerson, Team: team, Exists: true}) == nil
	}
	out := make([]transferRow, 0, len(ts))
	for _, t := range ts {
		row := transferRow{Transfer: t, Who: d.person(t.RequestedBy), From: d.team(t.FromTeam), To: d.team(t.ToTeam), YoungPerson: t.YoungPersonID}
		if t.Status == domain.TransferPending {
			row.Incoming, row.Outgoing = may(domain.VerbReceive, t.ToTeam), may(domain.VerbTransfer, t.FromTeam)
		}
		if rec, err := p.store.RecordState(c.UserContext(), t.YoungPersonID); err == nil && rec != nil && rec.Erased == nil {
			row.YoungPerson = str(rec, "known_as")
		}
		out = append(out, row)
	}
	return out, nil
}

// handleTransfers serves GET /portal/transfers: transfers from or to the
// viewer's teams; the receiving team's supervisors accept or decline here.
func (p *Portal) handleTransfers(c *fiber.Ctx) error {
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	rows, err := p.transferRows(c, d, domain.TransferFilter{})
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "transfers", "shown": len(rows)}); err != nil {
		return err
	}
	return p.render(c, "transfers", "Transfers", map[string]any{"Rows": rows})
}

// handleStartTransfer serves POST /portal/young-people/:id/transfer.
func (p *Portal) handleStartTransfer(c *fiber.Ctx) error {
	reason := strings.TrimSpace(c.FormValue("reason"))
	if len(reason) > 1000 {
		return invalid("Keep the reason under 1000 characters.")
	}
	id := c.Params("id")
	if _, err := p.store.StartTransfer(c.UserContext(), sess(c).Person, id, c.FormValue("team"), reason); err != nil {
		return p.transferError(c, err, "The transfer was not started")
	}
	return p.redirect(c, "/young-people/"+id+"?done=transfer-started")
}

// handleDecideTransfer serves POST /portal/transfers/:id (accept, decline or cancel).
func (p *Portal) handleDecideTransfer(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	decision := c.FormValue("decision")
	t, err := p.store.DecideTransfer(c.UserContext(), sess(c).Person, id, decision)
	if err != nil {
		return p.transferError(c, err, "That could not be done")
	}
	if t.Status == domain.TransferAccepted && p.changed != nil {
		p.changed([]string{"team:" + t.FromTeam, "team:" + t.ToTeam})
	}
	return p.redirect(c, "/transfers?done=transfer-"+t.Status)
}

// transferError shows a refused transfer step on the page it came from; a
// transfer or young person the viewer may not see is not found.
func (p *Portal) transferError(c *fiber.Ctx, err error, what string) error {
	switch domain.ErrorCode(err) {
	case domain.ENOTFOUND:
		return errNotFound
	case domain.EINVALID, domain.ECONFLICT, domain.EFORBIDDEN:
		return invalid("%s: %s", p.tr(c).T(what), p.errText(c, err))
	}
	return err
}

// transferTeams are the teams a young person filed under team could move to.
func transferTeams(d *directory, team string) []domain.Team {
	var out []domain.Team
	for _, t := range d.teams {
		if t.ID != team {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
