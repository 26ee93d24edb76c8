package portal

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

func registerReferralActionRoutes(r routes, p *Portal) {
	r.Post("/referrals/:id/chase", p.handleReferralChase)
	r.Post("/referrals/:id/withdraw", p.handleReferralWithdraw)
}

// chaseEvery is how often the portal lets a team chase one referral: a
// reminder, not a flood on the service's phones.
const chaseEvery = time.Hour

// handleReferralChase serves POST /portal/referrals/:id/chase: the service's
// practitioners are reminded of a referral still waiting (the notify rules
// react to chased_at, so the reminder is in the transaction of the edit).
func (p *Portal) handleReferralChase(c *fiber.Ctx) error {
	r, err := p.teamRecordFor(c, syncengine.TypeReferral, c.Params("id"), func(*syncengine.Record) domain.Action {
		return domain.Action{Verb: domain.VerbSet, Field: "chased_at"}
	})
	if err != nil {
		return err
	}
	if st := str(r, "status"); st != "submitted" {
		return refusal(domain.ECONFLICT, "Only a referral waiting for the service can be chased; this one is %s.", st)
	}
	now := p.now()
	if last := r.Time("chased_at"); !last.IsZero() && now.Sub(last) < chaseEvery {
		return refusal(domain.ECONFLICT, "This referral was chased less than an hour ago.")
	}
	if err := p.edit(c, func(tx *syncengine.Txn) error { return tx.Set(r.ID, "chased_at", now.Truncate(time.Second)) }); err != nil {
		return err
	}
	return p.redirect(c, "/referrals/"+string(r.ID)+"?done=chased")
}

// handleReferralWithdraw serves POST /portal/referrals/:id/withdraw. It is
// destructive for the young person's route to help, so it needs a reason and
// an explicit confirmation, and it is authorised as the transition from the
// referral's current status.
func (p *Portal) handleReferralWithdraw(c *fiber.Ctx) error {
	r, err := p.teamRecordFor(c, syncengine.TypeReferral, c.Params("id"), func(r *syncengine.Record) domain.Action {
		return domain.Action{Verb: domain.VerbTransition, From: str(r, "status"), To: "withdrawn"}
	})
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	if reason == "" || utf8.RuneCountInString(reason) > 2000 {
		return invalid("Say why the referral is withdrawn (up to 2,000 characters): the service and the worker will see it.")
	}
	if c.FormValue("confirm") != "yes" {
		return invalid("Tick the box to confirm the referral is to be withdrawn.")
	}
	err = p.edit(c, func(tx *syncengine.Txn) error {
		if err := tx.Set(r.ID, "withdraw_reason", reason); err != nil {
			return err
		}
		return tx.Set(r.ID, "status", "withdrawn")
	})
	if err != nil {
		return err
	}
	return p.redirect(c, "/referrals/"+string(r.ID)+"?done=withdrawn")
}
