package portal

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

func registerReferralRoutes(r routes, p *Portal) {
	r.Get("/referrals", p.handleReferralPipeline)
	r.Get("/referrals/:id", p.handleReferralDetail)
	r.Post("/referrals/:id/resolve", p.handleReferralResolve)
}

func registerServiceViewRoutes(r routes, p *Portal) {
	r.Get("/service", p.handleServiceView)
	r.Get("/service/referrals/:id", p.handleServiceReferral)
	r.Post("/service/referrals/:id/accept", p.handleServiceAccept)
	r.Post("/service/referrals/:id/decline", p.handleServiceDecline)
}

// Statuses in pipeline order.
var referralStatuses = []string{"draft", "submitted", "accepted", "declined", "withdrawn", "closed"}

type referralRow struct {
	ID, KnownAs, YoungPersonID, Service, ServiceID string
	Status, Urgency, Consent                       string
	Submitted                                      time.Time
	Waiting                                        time.Duration
	Conflicts                                      int
	Decision                                       decision
	Referrer                                       referrer
}

func (p *Portal) toReferral(r *syncengine.Record, d *directory, names map[string]string) referralRow {
	x := referralRow{ID: string(r.ID), YoungPersonID: str(r, "young_person_id"), ServiceID: str(r, "service_id"),
		Status: str(r, "status"), Urgency: str(r, "urgency"), Consent: str(r, "consent"), Submitted: r.Time("submitted_at"),
		Conflicts: len(r.Conflicts())}
	x.KnownAs = names[x.YoungPersonID]
	x.Service = d.service(x.ServiceID)
	x.Decision, x.Referrer = referralDecision(r, d), referrerOf(r, d)
	if x.Status == "submitted" && !x.Submitted.IsZero() {
		x.Waiting = p.now().Sub(x.Submitted)
	}
	return x
}

// handleReferralPipeline serves GET /portal/referrals: counts by status and
// service, and the referrals themselves, filtered.
func (p *Portal) handleReferralPipeline(c *fiber.Ctx) error {
	status, service := c.Query("status"), c.Query("service")
	if status != "" && !slices.Contains(referralStatuses, status) {
		return invalid("Unknown referral status.")
	}
	recs, err := p.recordsInScope(c, syncengine.TypeReferral)
	if err != nil {
		return err
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	names, err := p.youngPeopleNames(c)
	if err != nil {
		return err
	}
	type svcRow struct {
		ID, Name string
		Counts   []int
	}
	bySvc := map[string]*svcRow{}
	totals := make([]int, len(referralStatuses))
	var rows []referralRow
	for _, r := range recs {
		x := p.toReferral(r, d, names)
		i := slices.Index(referralStatuses, x.Status)
		if i < 0 {
			continue
		}
		sr := bySvc[x.ServiceID]
		if sr == nil {
			sr = &svcRow{ID: x.ServiceID, Name: x.Service, Counts: make([]int, len(referralStatuses))}
			bySvc[x.ServiceID] = sr
		}
		sr.Counts[i]++
		totals[i]++
		if (status == "" || x.Status == status) && (service == "" || x.ServiceID == service) {
			rows = append(rows, x)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		return waitingFirst(rows[i].Status, rows[j].Status, rows[i].Urgency, rows[j].Urgency, rows[i].Submitted, rows[j].Submitted)
	})
	pg, err := parsePage(c, len(rows))
	if err != nil {
		return err
	}
	rows = rows[pg.From:pg.To]
	svcs := make([]*svcRow, 0, len(bySvc))
	for _, s := range bySvc {
		svcs = append(svcs, s)
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "referrals", "shown": len(rows)}); err != nil {
		return err
	}
	return p.render(c, "referrals", "Referrals", map[string]any{"Statuses": referralStatuses, "Totals": totals, "Services": svcs,
		"Rows": rows, "Status": status, "Service": service, "Page": pg})
}

// fieldRow is one field of a record shown as label and value.
type fieldRow struct{ Label, Value string }

// fieldRows words a record's fields for the reader: labels from fieldLabels,
// vocabulary values translated, people and services by name, times local.
func (p *Portal) fieldRows(c *fiber.Ctx, v syncengine.View, order []string, d *directory) []fieldRow {
	pr := p.tr(c)
	var out []fieldRow
	for _, f := range order {
		raw, ok := v.Values[f]
		if !ok {
			continue
		}
		val := displayValue(raw)
		var t time.Time
		switch {
		case f == "service_id":
			val = d.service(val)
		case f == "consent_decided_by" || f == "assignee" || f == "key_worker":
			val = d.person(val)
		case f == "status" || f == "urgency" || f == "consent" || f == "age_band":
			val = pr.Value(val)
		case json.Unmarshal(raw, &t) == nil:
			val = pr.Time(t.In(p.loc), "Mon 2 Jan 2006, 15:04")
		}
		out = append(out, fieldRow{Label: pr.T(fieldLabel(f)), Value: val})
	}
	return out
}

// fieldLabels are the words for record fields wherever a page names one
// (referral facts, conflicts, data-sharing agreements); a field not listed
// is shown as its name in words.
var fieldLabels = map[string]string{
	"known_as": "Known as", "age_band": "Age band", "young_person_id": "Young person's record", "service_id": "Service",
	"status": "Status", "urgency": "Urgency", "submitted_at": "Submitted", "reason": "Reason for referral",
	"wants": "What they want", "consent": "Consent", "consent_justification": "Why it was shared without consent",
	"consent_decided_by": "Consent decided by", "outcome": "Outcome", "decline_reason": "Reason for declining",
	"area": "Area", "concern_level": "Concern level", "concern": "Concern", "note": "Narrative", "actions": "Actions agreed",
	"topics": "Topics", "review_status": "Review", "gender": "Gender", "key_worker": "Key worker", "started_at": "Started",
	"ended_at": "Ended", "assignee": "Assigned to", "due_at": "Due", "kind": "What", "safeguarding_hold": "Safeguarding hold",
	"team_id": "Team", "tallies": "Contacts", "workers": "Workers", "young_people": "Young people",
}

func fieldLabel(f string) string {
	if l, ok := fieldLabels[f]; ok {
		return l
	}
	return strings.ReplaceAll(f, "_", " ")
}

var referralOrder = []string{"known_as", "age_band", "young_person_id", "service_id", "status", "urgency", "submitted_at", "reason", "wants",
	"consent", "consent_justification", "consent_decided_by", "outcome", "decline_reason"}

// handleReferralDetail serves GET /portal/referrals/:id (supervisors, admins).
func (p *Portal) handleReferralDetail(c *fiber.Ctx) error {
	r, err := p.teamRecord(c, syncengine.TypeReferral, c.Params("id"), domain.VerbRead)
	if err != nil {
		return err
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	decisions, err := p.store.SharingDecisions(c.UserContext(), string(r.ID))
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, string(r.ID), map[string]any{"type": r.Type}); err != nil {
		return err
	}
	v := r.View(nil)
	names, err := p.youngPeopleNames(c)
	if err != nil {
		return err
	}
	type decision struct {
		Decision, Justification, By string
		At                          time.Time
	}
	var ds []decision
	for _, x := range decisions {
		ds = append(ds, decision{x.Decision, x.Justification, d.person(x.DecidedBy), x.At})
	}
	return p.render(c, "referral", "Referral", map[string]any{"R": p.toReferral(r, d, names), "Fields": p.fieldRows(c, v, referralOrder, d),
		"Conflicts": conflictRows(v, d), "Decisions": ds, "CanChase": str(r, "status") == "submitted",
		"CanWithdraw":    str(r, "status") == "submitted" || str(r, "status") == "accepted" || str(r, "status") == "draft",
		"WithdrawReason": str(r, "withdraw_reason"), "ChasedAt": r.Time("chased_at")})
}

// handleReferralResolve serves POST /portal/referrals/:id/resolve.
func (p *Portal) handleReferralResolve(c *fiber.Ctx) error {
	r, err := p.teamRecord(c, syncengine.TypeReferral, c.Params("id"), domain.VerbResolve)
	if err != nil {
		return err
	}
	if err := p.resolveConflict(c, r, c.FormValue("field"), c.FormValue("value")); err != nil {
		return err
	}
	return p.redirect(c, "/referrals/"+string(r.ID)+"?done=resolved")
}

// serviceScope is the service whose view is shown and the fields its
// data-sharing agreement allows. Practitioners see their own service; an
// admin may look at any service's view (to check what it receives).
func (p *Portal) serviceScope(c *fiber.Ctx) (domain.Service, []string, error) {
	s := sess(c)
	id := s.Scope.ServiceID
	if s.Person.Role == domain.RoleAdmin {
		id = c.Query("service")
		if id == "" {
			svcs, err := p.store.Services(c.UserContext())
			if err != nil || len(svcs) == 0 {
				return domain.Service{}, nil, errNotFound
			}
			id = svcs[0].ID
		}
	}
	if id == "" {
		return domain.Service{}, nil, errForbidden
	}
	svc, err := p.store.Service(c.UserContext(), id)
	if err != nil {
		if syncengine.ErrorCode(err) == domain.ENOTFOUND {
			return svc, nil, errNotFound
		}
		return svc, nil, err
	}
	return svc, projection(svc.SharedFields), nil
}

// projection is what a service sees of a referral: its agreement plus what it
// needs to act (the same rule as the sync scope).
func projection(shared []string) []string {
	f := append([]string{"service_id", "status", "decline_reason", "submitted_at"}, shared...)
	sort.Strings(f)
	return slices.Compact(f)
}

// projectedView is a referral as a service sees it; known_as and age_band
// come from the young person only if the agreement grants them.
func (p *Portal) projectedView(c *fiber.Ctx, r *syncengine.Record, fields []string) (syncengine.View, error) {
	v := r.View(fields)
	ypID := str(r, "young_person_id")
	for _, f := range []string{"known_as", "age_band"} {
		if !slices.Contains(fields, f) || ypID == "" {
			continue
		}
		yp, err := p.store.RecordState(c.UserContext(), ypID)
		if err != nil {
			return v, err
		}
		if live(yp) {
			b, _ := json.Marshal(str(yp, f))
			v.Values[f] = b
		}
	}
	return v, nil
}

// serviceReferral loads a referral addressed to the service in view; any
// other id is errNotFound.
func (p *Portal) serviceReferral(c *fiber.Ctx, svc domain.Service) (*syncengine.Record, domain.Target, error) {
	id := c.Params("id")
	if !syncengine.ValidRecordID(id) {
		return nil, domain.Target{}, errNotFound
	}
	r, f, err := p.store.FiledRecord(c.UserContext(), id)
	if err != nil {
		return nil, domain.Target{}, err
	}
	// Shared with the service as the server filed it: submitted, and with
	// consent that permits sharing (withdrawn consent is a 404 here).
	if !live(r) || r.Type != syncengine.TypeReferral || f.Service != svc.ID {
		return nil, domain.Target{}, errNotFound
	}
	t := domain.Target{Type: r.Type, Team: f.Team, Service: f.Service, Exists: true, Status: str(r, "status")}
	if domain.Authorize(domain.ActorOf(sess(c).Scope, nil), domain.Action{Verb: domain.VerbRead}, t) != nil {
		return nil, domain.Target{}, errNotFound
	}
	return r, t, nil
}

type serviceRow struct {
	ID, Status, Urgency, KnownAs string
	Submitted                    time.Time
	Waiting                      time.Duration
	Decision                     decision
	Referrer                     referrer
}

// handleServiceView serves GET /portal/service: the referrals addressed to
// the practitioner's service.
func (p *Portal) handleServiceView(c *fiber.Ctx) error {
	svc, fields, err := p.serviceScope(c)
	if err != nil {
		return err
	}
	recs, err := p.store.Records(c.UserContext(), domain.RecordFilter{Type: syncengine.TypeReferral, ServiceID: svc.ID})
	if err != nil {
		return err
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	var rows []serviceRow
	for _, r := range recs {
		if !live(r) || str(r, "status") == "draft" {
			continue
		}
		v, err := p.projectedView(c, r, fields)
		if err != nil {
			return err
		}
		x := serviceRow{ID: string(r.ID), Status: str(r, "status"), Submitted: r.Time("submitted_at"),
			Decision: referralDecision(r, d), Referrer: referrerOf(r, d)}
		if raw, ok := v.Values["urgency"]; ok {
			x.Urgency = displayValue(raw)
		}
		if raw, ok := v.Values["known_as"]; ok {
			x.KnownAs = displayValue(raw)
		}
		if x.Status == "submitted" && !x.Submitted.IsZero() {
			x.Waiting = p.now().Sub(x.Submitted)
		}
		rows = append(rows, x)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		return waitingFirst(rows[i].Status, rows[j].Status, rows[i].Urgency, rows[j].Urgency, rows[i].Submitted, rows[j].Submitted)
	})
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "service", "service": svc.ID, "shown": len(rows)}); err != nil {
		return err
	}
	var svcs []domain.Service
	if sess(c).Person.Role == domain.RoleAdmin {
		if svcs, err = p.store.Services(c.UserContext()); err != nil {
			return err
		}
	}
	return p.render(c, "service", "Referrals to %s", map[string]any{"Service": svc, "Rows": rows, "Fields": fields, "All": svcs}, svc.Name)
}

// handleServiceReferral serves GET /portal/service/referrals/:id.
func (p *Portal) handleServiceReferral(c *fiber.Ctx) error {
	svc, fields, err := p.serviceScope(c)
	if err != nil {
		return err
	}
	r, _, err := p.serviceReferral(c, svc)
	if err != nil {
		return err
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, string(r.ID), map[string]any{"type": r.Type, "service": svc.ID}); err != nil {
		return err
	}
	v, err := p.projectedView(c, r, fields)
	if err != nil {
		return err
	}
	return p.render(c, "servicereferral", "Referral to %s", map[string]any{"Service": svc, "ID": string(r.ID),
		"Decision": referralDecision(r, d), "Referrer": referrerOf(r, d), "Submitted": r.Time("submitted_at"),
		"Status": str(r, "status"), "Fields": p.fieldRows(c, v, referralOrder, d), "CanDecide": str(r, "status") == "submitted" && sess(c).Person.Role == domain.RolePractitioner,
		"Query": serviceQuery(c)}, svc.Name)
}

func serviceQuery(c *fiber.Ctx) string {
	if s := c.Query("service"); s != "" {
		return "?service=" + s
	}
	return ""
}

// handleServiceAccept serves POST /portal/service/referrals/:id/accept.
func (p *Portal) handleServiceAccept(c *fiber.Ctx) error {
	return p.decide(c, "accepted")
}

// handleServiceDecline serves POST /portal/service/referrals/:id/decline.
func (p *Portal) handleServiceDecline(c *fiber.Ctx) error {
	return p.decide(c, "declined")
}

func (p *Portal) decide(c *fiber.Ctx, to string) error {
	if sess(c).Person.Role != domain.RolePractitioner {
		return errForbidden // an admin may look, but only the service decides
	}
	svc, _, err := p.serviceScope(c)
	if err != nil {
		return err
	}
	r, t, err := p.serviceReferral(c, svc)
	if err != nil {
		return err
	}
	if st := str(r, "status"); st != "submitted" {
		return refusal(domain.ECONFLICT, "This referral is already %s.", st)
	}
	if err := domain.Authorize(domain.ActorOf(sess(c).Scope, nil), domain.Action{Verb: domain.VerbTransition, From: "submitted", To: to}, t); err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	note := strings.TrimSpace(c.FormValue("outcome"))
	if to == "declined" && reason == "" {
		return invalid("Say why the referral is declined: the youth worker needs it to find another route.")
	}
	if len(reason) > 2000 || len(note) > 2000 {
		return invalid("Keep the text under 2,000 characters.")
	}
	err = p.edit(c, func(tx *syncengine.Txn) error {
		if to == "declined" {
			if err := tx.Set(r.ID, "decline_reason", reason); err != nil {
				return err
			}
		}
		if note != "" {
			if err := tx.Set(r.ID, "outcome", note); err != nil {
				return err
			}
		}
		return tx.Set(r.ID, "status", to)
	})
	if err != nil {
		return err
	}
	return p.redirect(c, "/service/referrals/"+string(r.ID)+"?done="+to)
}
