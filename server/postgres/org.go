package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
)

// UpsertArea creates or renames an area.
func (db *DB) UpsertArea(ctx context.Context, a domain.Area) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO areas (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name`, a.ID, a.Name)
		return err
	})
}

// UpsertTeam creates or changes a team.
func (db *DB) UpsertTeam(ctx context.Context, t domain.Team) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO teams (id, area_id, name) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET area_id = excluded.area_id, name = excluded.name`, t.ID, t.AreaID, t.Name)
		return err
	})
}

// Areas lists areas by name.
func (db *DB) Areas(ctx context.Context) ([]domain.Area, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, name FROM areas ORDER BY name, id`)
	return collect(rows, err, func(r pgx.Rows) (a domain.Area, err error) { return a, r.Scan(&a.ID, &a.Name) })
}

// Teams lists teams by name.
func (db *DB) Teams(ctx context.Context) ([]domain.Team, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, area_id, name FROM teams ORDER BY name, id`)
	return collect(rows, err, func(r pgx.Rows) (t domain.Team, err error) { return t, r.Scan(&t.ID, &t.AreaID, &t.Name) })
}

// UpsertService creates or changes a service and its sharing agreement.
func (db *DB) UpsertService(ctx context.Context, s domain.Service) error {
	if s.SharedFields == nil {
		s.SharedFields = []string{}
	}
	sf, _ := json.Marshal(s.SharedFields)
	hours := s.Hours
	if len(hours) == 0 {
		hours = json.RawMessage(`{}`)
	}
	if s.TZ == "" {
		s.TZ = "Europe/London"
	}
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO services (id, name, kind, contact, pathway, tz, hours, shared_fields, created, updated)
			VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8::text::jsonb, $9, $9)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, contact = excluded.contact,
				pathway = excluded.pathway, tz = excluded.tz, hours = excluded.hours,
				shared_fields = excluded.shared_fields, updated = excluded.updated`,
			s.ID, s.Name, s.Kind, s.Contact, s.Pathway, s.TZ, string(hours), string(sf), tx.now)
		return err
	})
}

const serviceCols = `id, name, kind, contact, pathway, tz, hours::text, shared_fields::text, created, updated`

func scanService(sc pgx.Row) (domain.Service, error) {
	var s domain.Service
	var hours, sf string
	if err := sc.Scan(&s.ID, &s.Name, &s.Kind, &s.Contact, &s.Pathway, &s.TZ, &hours, &sf, &s.Created, &s.Updated); err != nil {
		return s, err
	}
	s.Hours = json.RawMessage(hours)
	_ = json.Unmarshal([]byte(sf), &s.SharedFields)
	s.Created, s.Updated = s.Created.UTC(), s.Updated.UTC()
	return s, nil
}

// Service reads one service.
func (db *DB) Service(ctx context.Context, id string) (domain.Service, error) {
	var s domain.Service
	err := db.view(ctx, func(tx *Tx) (err error) { s, err = findService(ctx, tx, id); return err })
	return s, err
}

func findService(ctx context.Context, tx *Tx, id string) (domain.Service, error) {
	s, err := scanService(tx.QueryRow(ctx, `SELECT `+serviceCols+` FROM services WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, notFound("service", id)
	}
	return s, err
}

// Services lists services by name.
func (db *DB) Services(ctx context.Context) ([]domain.Service, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+serviceCols+` FROM services ORDER BY name, id`)
	return collect(rows, err, func(r pgx.Rows) (domain.Service, error) { return scanService(r) })
}

// UpsertPerson creates or changes a person.
func (db *DB) UpsertPerson(ctx context.Context, p domain.Person) error {
	return db.UpsertPeople(ctx, []domain.Person{p})
}

// UpsertPeople creates or changes people in one transaction.
func (db *DB) UpsertPeople(ctx context.Context, ps []domain.Person) error {
	return db.update(ctx, func(tx *Tx) error {
		for _, p := range ps {
			if err := upsertPerson(ctx, tx, p); err != nil {
				return fmt.Errorf("person %s: %w", p.ID, err)
			}
		}
		return nil
	})
}

func upsertPerson(ctx context.Context, tx *Tx, p domain.Person) error {
	switch p.Role {
	case domain.RoleWorker, domain.RoleSupervisor, domain.RolePractitioner, domain.RoleAdmin:
	default:
		return domain.Errorf(domain.EINVALID, "upsert person", "unknown role %q", p.Role)
	}
	hours := p.Hours
	if len(hours) == 0 {
		hours = json.RawMessage(`{}`)
	}
	if p.TZ == "" {
		p.TZ = "Europe/London"
	}
	if _, err := tx.Exec(ctx, `INSERT INTO people (id, name, email, role, team_id, service_id, tz, hours, password_hash, safeguarding_lead, created, updated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb, $9, $11, $10, $10)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, role = excluded.role,
			team_id = excluded.team_id, service_id = excluded.service_id, tz = excluded.tz, hours = excluded.hours,
			password_hash = COALESCE(excluded.password_hash, people.password_hash),
			safeguarding_lead = excluded.safeguarding_lead, updated = excluded.updated`,
		p.ID, p.Name, nullString(p.Email), p.Role, nullString(p.TeamID), nullString(p.ServiceID), p.TZ, string(hours),
		nullString(p.PasswordHash), tx.now, p.SafeguardingLead); err != nil {
		return err
	}
	if p.Supervises != nil {
		if _, err := tx.Exec(ctx, `DELETE FROM team_supervisors WHERE person_id = $1`, p.ID); err != nil {
			return err
		}
		for _, t := range p.Supervises {
			if _, err := tx.Exec(ctx, `INSERT INTO team_supervisors (person_id, team_id) VALUES ($1, $2)`, p.ID, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// personCols are a person's columns and supervised teams, read together:
// a list of people asking for each one's teams was a round trip per person
// (a week's push asked 8,000 times).
const personCols = `id, name, COALESCE(email, ''), role, COALESCE(team_id, ''), COALESCE(service_id, ''), tz, hours::text,
	COALESCE(password_hash, ''), failed_logins, locked_until, safeguarding_lead, created, updated, deactivated, COALESCE(totp_secret, ''), lang,
	ARRAY(SELECT s.team_id FROM team_supervisors s WHERE s.person_id = people.id ORDER BY s.team_id)`

func scanPerson(sc pgx.Row) (domain.Person, error) {
	var p domain.Person
	var hours string
	var locked, deactivated *time.Time
	err := sc.Scan(&p.ID, &p.Name, &p.Email, &p.Role, &p.TeamID, &p.ServiceID, &p.TZ, &hours,
		&p.PasswordHash, &p.FailedLogins, &locked, &p.SafeguardingLead, &p.Created, &p.Updated, &deactivated, &p.TOTPSecret, &p.Lang,
		&p.Supervises)
	p.Hours = json.RawMessage(hours)
	p.LockedUntil, p.Deactivated = tm(locked), tm(deactivated)
	p.Created, p.Updated = p.Created.UTC(), p.Updated.UTC()
	if len(p.Supervises) == 0 {
		p.Supervises = nil // as a person who supervises no team always read
	}
	return p, err
}

// findPerson reads the person matching where (a fixed condition on one
// argument, never built from input).
func findPerson(ctx context.Context, tx *Tx, where string, arg any) (domain.Person, error) {
	p, err := scanPerson(tx.QueryRow(ctx, `SELECT `+personCols+` FROM people WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, notFound("person", fmt.Sprint(arg))
	}
	return p, err
}

func supervisedTeams(ctx context.Context, tx *Tx, personID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT team_id FROM team_supervisors WHERE person_id = $1 ORDER BY team_id`, personID)
	return collect(rows, err, func(r pgx.Rows) (t string, err error) { return t, r.Scan(&t) })
}

// Person reads one person.
func (db *DB) Person(ctx context.Context, id string) (domain.Person, error) {
	var p domain.Person
	err := db.view(ctx, func(tx *Tx) (err error) { p, err = findPerson(ctx, tx, "id = $1", id); return err })
	return p, err
}

// PersonByEmail reads the person with the email.
func (db *DB) PersonByEmail(ctx context.Context, email string) (domain.Person, error) {
	var p domain.Person
	err := db.view(ctx, func(tx *Tx) (err error) { p, err = findPerson(ctx, tx, "email = $1", email); return err })
	return p, err
}

// People lists people matching f, by name.
func (db *DB) People(ctx context.Context, f domain.PeopleFilter) ([]domain.Person, error) {
	var out []domain.Person
	err := db.view(ctx, func(tx *Tx) (err error) { out, err = findPeople(ctx, tx, f); return err })
	return out, err
}

func findPeople(ctx context.Context, tx *Tx, f domain.PeopleFilter) ([]domain.Person, error) {
	rows, err := tx.Query(ctx, `SELECT `+personCols+` FROM people
		WHERE ($1 = '' OR role = $1) AND ($2 = '' OR team_id = $2) AND ($3 = '' OR service_id = $3)
		ORDER BY name, id`, f.Role, f.TeamID, f.ServiceID)
	return collect(rows, err, func(r pgx.Rows) (domain.Person, error) { return scanPerson(r) })
}

// SetPassword stores a password hash and clears the lockout.
func (db *DB) SetPassword(ctx context.Context, personID, hash string) error {
	return db.update(ctx, func(tx *Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE people SET password_hash = $1, failed_logins = 0, locked_until = NULL, updated = $2 WHERE id = $3`,
			hash, tx.now, personID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("person", personID)
		}
		return nil
	})
}

// ScopeOf is what p may see.
func (db *DB) ScopeOf(ctx context.Context, p domain.Person) (domain.Scope, error) {
	var s domain.Scope
	err := db.view(ctx, func(tx *Tx) (err error) { s, err = scopeOf(ctx, tx, p); return err })
	return s, err
}

func scopeOf(ctx context.Context, tx *Tx, p domain.Person) (domain.Scope, error) {
	return domain.ScopeFor(p, func() ([]string, error) { return supervisedTeams(ctx, tx, p.ID) },
		func() ([]string, error) {
			svc, err := findService(ctx, tx, p.ServiceID)
			return svc.SharedFields, err
		})
}

// scopeFilter is the WHERE fragment on records r for scope s; its one
// argument is $n (teams as an array).
func scopeFilter(s domain.Scope, n int) (string, any) {
	switch {
	case s.All:
		return fmt.Sprintf("($%d::text IS NULL OR true)", n), nil
	case s.Practitioner():
		return fmt.Sprintf("(r.type = 'referral' AND r.service_id = $%d)", n), s.ServiceID
	}
	teams := s.Teams
	if teams == nil {
		teams = []string{}
	}
	return fmt.Sprintf("r.team_id = ANY($%d::text[])", n), teams
}
