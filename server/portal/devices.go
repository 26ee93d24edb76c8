package portal

import (
	"fmt"
	"html"
	"html/template"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/joinedup/joinedup/server/i18n"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	qr "github.com/piglig/go-qr"
)

func registerDeviceRoutes(r routes, p *Portal) {
	r.Get("/devices", p.handleDevices)
	r.Post("/devices/code", p.handleIssueCode)
	r.Post("/devices/:id/revoke", p.handleRevoke)
}

type deviceRow struct {
	domain.Device
	Person, Team string
}

// devicesInScope lists the devices of people in the signed-in person's teams.
func (p *Portal) devicesInScope(c *fiber.Ctx, d *directory) ([]deviceRow, error) {
	all, err := p.store.Devices(c.UserContext(), domain.DeviceFilter{})
	if err != nil {
		return nil, err
	}
	s := sess(c).Scope
	var out []deviceRow
	for _, dev := range all {
		person, ok := d.people[dev.PersonID]
		if !ok || !s.All && !s.HasTeam(person.TeamID) {
			continue
		}
		out = append(out, deviceRow{Device: dev, Person: person.Name, Team: d.team(person.TeamID)})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if (out[i].Status == domain.DeviceActive) != (out[j].Status == domain.DeviceActive) {
			return out[i].Status == domain.DeviceActive
		}
		return out[i].Person < out[j].Person
	})
	return out, nil
}

// handleDevices serves GET /portal/devices.
func (p *Portal) handleDevices(c *fiber.Ctx) error {
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	rows, err := p.devicesInScope(c, d)
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "devices", "shown": len(rows)}); err != nil {
		return err
	}
	return p.render(c, "devices", "Devices", map[string]any{"Rows": rows, "People": d.workersIn(sess(c).Scope)})
}

// handleIssueCode serves POST /portal/devices/code: a one-time enrolment
// code for a person the signed-in supervisor or admin may issue one for
// (domain.MayIssueEnrolmentCode, as the API), shown as text and as a QR code. The code is
// shown once and never stored in clear.
func (p *Portal) handleIssueCode(c *fiber.Ctx) error {
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	person, ok := d.people[c.FormValue("person")]
	if !ok {
		return invalid("Choose a youth worker or supervisor in your team.")
	}
	target, err := p.store.ScopeOf(c.UserContext(), person)
	if err != nil {
		return err
	}
	if err := domain.MayIssueEnrolmentCode(sess(c).Scope, person, target); err != nil {
		return invalid("You cannot issue a code for %s: %s.", person.Name, p.errText(c, err))
	}
	code, expires, err := p.store.IssueEnrolmentCode(c.UserContext(), person.ID, sess(c).Person.ID)
	if err != nil {
		return err
	}
	server := p.cfg.PublicURL
	if server == "" {
		server = c.BaseURL()
	}
	payload := "joinedup://enrol?" + url.Values{"server": {server}, "code": {code}}.Encode()
	svg, err := qrSVG(payload, p.tr(c).T("QR code of the enrolment code"))
	if err != nil {
		return err
	}
	return p.render(c, "enrolcode", "Enrolment code", map[string]any{"Person": person.Name, "Code": groupCode(code), "Expires": expires,
		"QR": svg, "Payload": payload, "Server": server})
}

// groupCode shows a code in groups of four, easier to read out and type;
// the dashes are ignored when it is entered (sqlite.NormaliseCode).
func groupCode(code string) string {
	var b strings.Builder
	for i, r := range code {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// handleRevoke serves POST /portal/devices/:id/revoke: the device is refused
// from now on and told to wipe its data at its next contact.
func (p *Portal) handleRevoke(c *fiber.Ctx) error {
	dev, err := p.store.Device(c.UserContext(), c.Params("id"))
	if err != nil {
		if syncengine.ErrorCode(err) == domain.ENOTFOUND {
			return errNotFound
		}
		return err
	}
	person, err := p.store.Person(c.UserContext(), dev.PersonID)
	if err != nil {
		return err
	}
	if !sess(c).Scope.HasTeam(person.TeamID) {
		return errNotFound
	}
	// Revoking wipes the phone, losing whatever it has not sent: like
	// erasure, it needs a reason on record and a confirmation naming this
	// phone, checked here and not only by the browser's required fields.
	reason := strings.TrimSpace(c.FormValue("reason"))
	if reason == "" {
		return invalid("Say why the phone is revoked (for example lost or stolen): the reason is kept in the audit log.")
	}
	if len(reason) > 500 {
		return invalid("Keep the reason under 500 characters.")
	}
	if c.FormValue("confirm") != dev.ID {
		return invalid("Tick the box to confirm this phone is to be revoked and wiped.")
	}
	if err := p.store.RevokeDevice(c.UserContext(), dev.ID, sess(c).Person.ID, reason); err != nil {
		return err
	}
	return p.redirect(c, "/devices?done=revoked")
}

// qrSVG renders text as a QR code (medium error correction) in inline SVG:
// one path of unit squares, a 4-module quiet zone, crisp at any size.
func qrSVG(text, label string) (template.HTML, error) {
	code, err := qr.EncodeText(text, qr.Medium)
	if err != nil {
		return "", fmt.Errorf("qr: %w", err)
	}
	n := code.Size()
	const quiet = 4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" class="qr" role="img" aria-label="%s" shape-rendering="crispEdges">`, n+2*quiet, n+2*quiet, html.EscapeString(label))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n+2*quiet, n+2*quiet)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if code.Module(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	// Only numbers and fixed markup: safe to emit unescaped.
	return template.HTML(b.String()), nil
}

// timeAgo renders how long ago t was, for last-sync columns.
func timeAgo(pr *i18n.Printer, now, t time.Time) string {
	if t.IsZero() {
		return pr.T("never")
	}
	if d := now.Sub(t); d < time.Minute {
		return pr.T("just now")
	}
	return pr.T("%s ago", pr.Duration(now.Sub(t)))
}
