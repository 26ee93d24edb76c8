// Package portal is the supervisors' web portal: server-rendered HTML on
// Fiber for supervisors, co-located practitioners and admins.
//
// Everything is embedded (templates, CSS): the network it runs on is closed,
// so there is no CDN and no client-side framework; charts and the enrolment QR
// code are inline SVG rendered on the server. Every page checks the signed-in
// person's role and scope on the server; records outside the scope answer 404
// so that their existence is not revealed. Every read, export, erasure and
// revocation is written to the audit log.
//
// Wiring (server/cmd/joinedup):
//
//	portal.New(portal.DefaultConfig(), portal.Deps{Store: db, Changed: poke}).Register(app)
package portal

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London on machines without zoneinfo

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/httperr"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/server/signin"
	"github.com/joinedup/joinedup/syncengine"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config holds the portal's settings.
type Config struct {
	// Prefix is where the portal is mounted.
	Prefix string
	// InsecureCookies drops the Secure flag (only for plain-HTTP development
	// on a host that is not localhost; browsers accept Secure cookies from
	// http://localhost and 127.0.0.1).
	InsecureCookies bool
	SessionIdle     time.Duration // sign-out after this long without a request
	SessionMax      time.Duration // and after this long whatever happens
	// PublicURL is the server address phones enrol with (put in the QR code);
	// empty: the address the portal was reached at.
	PublicURL string
	// TimeZone is how times are shown.
	TimeZone string
	// MinCount: report cells with fewer people/contacts are suppressed.
	MinCount int
	// Now is the clock (tests set it to the fixtures' weeks).
	Now func() time.Time
	// TwoFactorRoles must enrol TOTP before using the portal (nil: none;
	// people who enrolled are asked for a code whatever their role).
	// cmd/joinedup sets signin.TwoFactorRoles unless it serves demo data.
	TwoFactorRoles []string
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{Prefix: "/portal", SessionIdle: 30 * time.Minute, SessionMax: 12 * time.Hour,
		TimeZone: "Europe/London", MinCount: 3, Now: time.Now}
}

// Deps are the portal's collaborators.
type Deps struct {
	Store Store
	// Changed is told the scope keys a portal edit touched, so connected
	// devices are poked (optional).
	Changed func(keys []string)
	// SignIn checks staff passwords: give the API's (api.Server.SignIn), so
	// that a client's attempts on the portal and the API count together.
	// If nil, the portal makes its own over Store, on Config.Now.
	SignIn *signin.Checker
	// SSO is the organisation's OpenID Connect provider (nil: none).
	SSO    *signin.SSO
	Logger *slog.Logger
}

// Portal is the web portal.
type Portal struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	signin  *signin.Checker
	loc     *time.Location
	pages   map[string]map[string]*template.Template // language, page
	changed func(keys []string)
	sso     *ssoFlow
	// conflicts memoises conflictFields (see recordmemo.go).
	conflicts recordMemo
}

// New returns a portal. It panics if the embedded templates do not parse (a
// programming error caught by every test).
func New(cfg Config, deps Deps) *Portal {
	def := DefaultConfig()
	if cfg.Prefix == "" {
		cfg.Prefix = def.Prefix
	}
	cfg.Prefix = strings.TrimRight(cfg.Prefix, "/")
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = def.SessionIdle
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = def.SessionMax
	}
	if cfg.MinCount <= 0 {
		cfg.MinCount = def.MinCount
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TimeZone == "" {
		cfg.TimeZone = def.TimeZone
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	lg := deps.Logger
	if lg == nil {
		lg = slog.Default()
	}
	p := &Portal{cfg: cfg, store: deps.Store, log: lg, loc: loc, changed: deps.Changed, sso: newSSOFlow(deps.SSO)}
	if p.signin = deps.SignIn; p.signin == nil {
		p.signin = signin.New(deps.Store, signin.Config{Now: cfg.Now})
	}
	p.pages = p.parseTemplates()
	return p
}

// parseTemplates parses every page once per language, with that language's
// t bound, so rendering looks nothing up but the page.
func (p *Portal) parseTemplates() map[string]map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	all := map[string]map[string]*template.Template{}
	for _, lang := range i18n.Languages {
		// partial_*.html are pieces shared by several pages, not pages.
		base := template.Must(template.New("layout.html").Funcs(p.funcs(i18n.For(lang))).ParseFS(templateFS, "templates/layout.html", "templates/partial_*.html"))
		out := map[string]*template.Template{}
		for _, n := range names {
			name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
			if name == "layout" || strings.HasPrefix(name, "partial_") {
				continue
			}
			out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
		}
		all[lang] = out
	}
	return all
}

// Register mounts the portal on app under cfg.Prefix.
func (p *Portal) Register(app *fiber.App) {
	r := app.Group(p.cfg.Prefix, p.securityHeaders, p.errorPages)
	r.Get("/static/*", p.handleStatic)
	r.Get("/login", p.handleLoginForm)
	r.Post("/login", p.handleLogin)
	registerPasswordRoutes(r, p)
	registerSSORoutes(r, p)

	a := r.Group("", p.authenticate, p.checkCSRF)
	a.Post("/logout", p.handleLogout)
	a.Get("/", p.handleHome)
	a.Get("/worker", p.handleWorkerHome)

	// Role checks are per route: a Fiber group's middleware would apply to
	// every path under its prefix, including other roles' pages.
	sup := routes{a, p.requireRole(domain.RoleSupervisor, domain.RoleAdmin)}
	registerEncounterRoutes(sup, p)
	registerConcernRoutes(sup, p)
	registerWorkListRoutes(sup, p)
	registerReferralActionRoutes(sup, p)
	registerSearchRoutes(sup, p)
	registerSavedFilterRoutes(sup, p)
	registerDuplicateRoutes(sup, p) // before /young-people/:id
	registerCaseSummaryRoutes(sup, p)
	registerYoungPersonRoutes(sup, p)
	registerReferralRoutes(sup, p)
	registerDeviceRoutes(sup, p)
	registerReportRoutes(sup, p)
	registerAuditRoutes(sup, p)
	registerTransferRoutes(sup, p)
	registerPrivacyRoutes(sup, routes{a, p.requireRole(domain.RoleAdmin)}, p)
	sup.Get("/dashboard", p.handleDashboard)
	registerLeaverRoutes(sup, p)
	sup.Get("/quarantine", p.handleQuarantine)
	sup.Get("/quarantine/:id", p.handleQuarantineItem)
	sup.Post("/quarantine/:id", p.handleQuarantineReview)

	registerServiceViewRoutes(routes{a, p.requireRole(domain.RolePractitioner, domain.RoleAdmin)}, p)
	registerDirectoryRoutes(routes{a, p.requireRole(domain.RoleSupervisor, domain.RoleAdmin, domain.RolePractitioner)}, p)
	registerAccountRoutes(a, p)
	registerAdminRoutes(routes{a, p.requireRole(domain.RoleAdmin)}, p)

	// Unknown portal paths: an HTML 404 rather than the API's JSON.
	r.Use(func(c *fiber.Ctx) error { return errNotFound })
}

// routes registers handlers behind a guard (a role check).
type routes struct {
	r     fiber.Router
	guard fiber.Handler
}

func (x routes) Get(path string, h fiber.Handler)  { x.r.Get(path, x.guard, h) }
func (x routes) Post(path string, h fiber.Handler) { x.r.Post(path, x.guard, h) }

// Portal errors. Handlers return them; errorPages turns them into pages.
var (
	errNotFound  = refusal(domain.ENOTFOUND, "That page does not exist, or you do not have access to it.")
	errForbidden = refusal(domain.EFORBIDDEN, "Your role does not give access to this page.")
)

// errorPages renders errors returned by handlers as HTML pages; what they
// say is httperr's, as for the API's JSON.
func (p *Portal) errorPages(c *fiber.Ctx) error {
	err := c.Next()
	if err == nil {
		return nil
	}
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code == fiber.StatusNotFound {
		err = errNotFound // the portal's own words for a missing page
	}
	pr := httperr.Describe(c, p.log, err)
	msg := p.message(c, err, pr.Message)
	if pr.Code == domain.EINTERNAL {
		msg = p.tr(c).T("Something went wrong. The error has been logged.")
	}
	c.Status(pr.Status)
	return p.render(c, "error", "Error", map[string]any{"Status": pr.Status, "Message": msg})
}

func (p *Portal) securityHeaders(c *fiber.Ctx) error {
	h := &c.Response().Header
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(c.Path(), p.cfg.Prefix+"/static/") {
		h.Set("Cache-Control", "no-store")
	}
	return c.Next()
}

func (p *Portal) handleStatic(c *fiber.Ctx) error {
	name := c.Params("*")
	if strings.Contains(name, "..") {
		return errNotFound
	}
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		return errNotFound
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		c.Type("css", "utf-8")
	case strings.HasSuffix(name, ".svg"):
		c.Type("svg")
	}
	c.Set("Cache-Control", "public, max-age=3600")
	return c.Send(b)
}

// view is what every page template receives.
type view struct {
	Lang   string // "en" or "cy"
	Title  string
	Prefix string
	User   *domain.Person
	CSRF   string
	Nav    string
	Flash  string
	Now    time.Time
	Data   any
	// Saved is the list page's saved-filters panel (nil elsewhere).
	Saved *savedBox
}

// render writes a page in the reader's language. title is a catalogue key
// (an English printf format) with titleArgs.
func (p *Portal) render(c *fiber.Ctx, page, title string, data any, titleArgs ...any) error {
	lang := p.lang(c)
	t := p.pages[lang][page]
	if t == nil {
		return fmt.Errorf("no template %q", page)
	}
	pr := i18n.For(lang)
	v := view{Lang: lang, Title: pr.T(title, titleArgs...), Prefix: p.cfg.Prefix, Now: p.now(), Data: data, Nav: page}
	if f := flash(c.Query("done")); f != "" {
		v.Flash = pr.T(f)
	}
	// A form's refusal (data["Error"]) is a catalogue key when the portal
	// wrote it, or a store's words otherwise.
	if m, ok := data.(map[string]any); ok {
		if e, ok := m["Error"].(string); ok && e != "" {
			m["Error"] = p.word(c, e)
		}
	}
	if s := sess(c); s != nil {
		v.User = &s.Person
		v.CSRF = s.CSRF
		if c.Response().StatusCode() == fiber.StatusOK {
			box, err := p.savedFilterBox(c, page)
			if err != nil {
				return err
			}
			v.Saved = box
		}
	} else if tok, ok := c.Locals("precsrf").(string); ok {
		v.CSRF = tok
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return fmt.Errorf("render %s: %w", page, err)
	}
	c.Type("html", "utf-8")
	return c.Send(buf.Bytes())
}

// redirect answers a form post with 303 to the given portal path.
func (p *Portal) redirect(c *fiber.Ctx, path string) error {
	return c.Redirect(p.cfg.Prefix+path, fiber.StatusSeeOther)
}

func (p *Portal) now() time.Time { return p.cfg.Now().UTC() }

// edit saves one supervisor change as a changeset the server authors, as
// the signed-in person. The store reads the records and commits the edit in
// one write transaction, so a phone's push cannot land between them.
func (p *Portal) edit(c *fiber.Ctx, fn func(*syncengine.Txn) error) error {
	forgetRecords(c) // what this request read before the edit is stale now
	keys, err := p.store.ServerEdit(c.UserContext(), sess(c).Person.ID, fn)
	if err != nil {
		return err
	}
	if p.changed != nil && len(keys) > 0 {
		p.changed(keys)
	}
	return nil
}

// audit appends an audit entry for the signed-in person. A failure to audit
// fails the request: an unaudited read must not be served.
func (p *Portal) audit(c *fiber.Ctx, action, recordID string, detail map[string]any) error {
	e := domain.AuditEntry{Action: action, RecordID: recordID, Detail: detail}
	if s := sess(c); s != nil {
		e.PersonID = s.Person.ID
	}
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	e.Detail["via"] = "portal"
	if err := p.store.AppendAudit(c.UserContext(), e); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}
