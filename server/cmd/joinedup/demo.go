package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/server/domain"
	"golang.org/x/crypto/bcrypt"
)

// DemoLogin is printed at start so a newcomer can sign in.
type DemoLogin struct{ Role, Email, Password, TeamID string }

// loadDemo fills an empty database with fixtures.Demo(): the organisation
// into tables, the records as the engine changesets each person would have
// made, and bcrypt-hashed demo passwords. It runs once: a marker in meta
// records that it was loaded (and it never touches a database with data).
func (m *Main) loadDemo(ctx context.Context) ([]DemoLogin, error) {
	ds, seed := demoDataset(m.now())
	logins := fixtures.DemoLogins(ds.Org)
	out := make([]DemoLogin, len(logins))
	for i, l := range logins {
		out[i] = DemoLogin{Role: l.Role, Email: l.Email, Password: l.Password}
		if i < len(ds.Org.People) && ds.Org.People[i].Email == l.Email {
			out[i].TeamID = ds.Org.People[i].TeamID
		}
	}
	if v, err := m.DB.Meta(ctx, "demo_loaded"); err != nil {
		return nil, err
	} else if v != "" {
		return out, nil
	}
	st, err := m.DB.Stats(ctx)
	if err != nil {
		return nil, err
	}
	if st.Changesets > 0 {
		return nil, nil // a real database: never add demo data
	}
	start := time.Now()
	for _, a := range ds.Org.Areas {
		if err := m.DB.UpsertArea(ctx, domain.Area{ID: a.ID, Name: a.Name}); err != nil {
			return nil, err
		}
	}
	for _, t := range ds.Org.Teams {
		if err := m.DB.UpsertTeam(ctx, domain.Team{ID: t.ID, AreaID: t.AreaID, Name: t.Name}); err != nil {
			return nil, err
		}
	}
	for _, s := range ds.Org.Services {
		hours, _ := json.Marshal(s.Hours)
		if err := m.DB.UpsertService(ctx, domain.Service{ID: s.ID, Name: s.Name, Kind: s.Kind, Contact: s.Contact, Pathway: s.Pathway,
			Hours: hours, SharedFields: s.SharedFields}); err != nil {
			return nil, err
		}
	}
	passwords := map[string]string{}
	for _, l := range logins {
		passwords[l.Email] = l.Password
	}
	for _, p := range ds.Org.People {
		hash, err := bcrypt.GenerateFromPassword([]byte(passwords[p.Email]), m.Config.BcryptCost)
		if err != nil {
			return nil, err
		}
		hours, _ := json.Marshal(p.Hours)
		person := domain.Person{ID: p.ID, Name: p.Name, Email: p.Email, Role: p.Role, TeamID: p.TeamID, ServiceID: p.ServiceID,
			TZ: p.TimeZone, Hours: hours, PasswordHash: string(hash)}
		if p.Role == domain.RoleSupervisor && p.TeamID != "" {
			person.Supervises = []string{p.TeamID}
		}
		// The demo's admin is its designated safeguarding lead, so a high
		// concern saved on a demo phone shows whom it pages.
		person.SafeguardingLead = p.Role == domain.RoleAdmin
		if err := m.DB.UpsertPerson(ctx, person); err != nil {
			return nil, fmt.Errorf("person %s: %w", p.ID, err)
		}
	}
	h, err := ds.Changesets(seed)
	if err != nil {
		return nil, err
	}
	n, err := m.DB.Import(ctx, h.Changesets)
	if err != nil {
		return nil, err
	}
	if err := m.DB.SetMeta(ctx, "demo_loaded", time.Now().UTC().Format(time.RFC3339)); err != nil {
		return nil, err
	}
	m.Logger.Info("demo data loaded", "people", len(ds.Org.People), "changesets", n, "ms", time.Since(start).Milliseconds())
	return out, nil
}

// demoDataset is the demo fortnight placed around now: it starts on last
// week's Monday and stops at now, so the portal shows tonight's sessions and
// real waiting times instead of a year-old fortnight, and nothing that has
// not happened yet. The organisation and logins do not depend on the date.
func demoDataset(now time.Time) (*fixtures.Dataset, uint64) {
	c := fixtures.Demo()
	c.Start = fixtures.MondayBefore(now, 1)
	return fixtures.Generate(c).Until(now), c.Seed
}
