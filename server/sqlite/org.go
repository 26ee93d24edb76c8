package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/joinedup/joinedup/server/domain"
)

func notFound(what, id string) error {
	return domain.Errorf(domain.ENOTFOUND, "", "%s %q not found", what, id)
}

// UpsertArea creates or renames an area.
func (db *DB) UpsertArea(ctx context.Context, a domain.Area) error {
	return db.update(ctx, func(tx *Tx) error { return upsertArea(ctx, tx, a) })
}

func upsertArea(ctx context.Context, tx *Tx, a domain.Area) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO areas (id, name) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name`, a.ID, a.Name)
	return err
}

// UpsertTeam creates or updates a team.
func (db *DB) UpsertTeam(ctx context.Context, t domain.Team) error {
	return db.update(ctx, func(tx *Tx) error { return upsertTeam(ctx, tx, t) })
}

func upsertTeam(ctx context.Context, tx *Tx, t domain.Team) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO teams (id, area_id, name) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET area_id = excluded.area_id, name = excluded.name`, t.ID, t.AreaID, t.Name)
	return err
}

// Areas lists every area.
func (db *DB) Areas(ctx context.Context) ([]domain.Area, error) {
	var out []domain.Area
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, name FROM areas ORDER BY name, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a domain.Area
			if err := rows.Scan(&a.ID, &a.Name); err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, err
}

// Teams lists every team.
func (db *DB) Teams(ctx context.Context) ([]domain.Team, error) {
	var out []domain.Team
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, area_id, name FROM teams ORDER BY name, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t domain.Team
			if err := rows.Scan(&t.ID, &t.AreaID, &t.Name); err != nil {
				return err
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, err
}

// UpsertService creates or updates a directory entry. The caller audits edits
// (portal): use AppendAudit in the same request.
func (db *DB) UpsertService(ctx context.Context, s domain.Service) error {
	return db.update(ctx, func(tx *Tx) error { return upsertService(ctx, tx, s) })
}

func upsertService(ctx context.Context, tx *Tx, s domain.Service) error {
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
	_, err := tx.ExecContext(ctx, `INSERT INTO services (id, name, kind, contact, pathway, tz, hours, shared_fields, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, contact = excluded.contact,
			pathway = excluded.pathway, tz = excluded.tz, hours = excluded.hours,
			shared_fields = excluded.shared_fields, updated = excluded.updated`,
		s.ID, s.Name, s.Kind, s.Contact, s.Pathway, s.TZ, string(hours), string(sf), tx.NowText(), tx.NowText())
	return err
}

const serviceCols = `id, name, kind, contact, pathway, tz, hours, shared_fields, created, updated`

func scanService(sc interface{ Scan(...any) error }) (domain.Service, error) {
	var s domain.Service
	var hours, sf, created, updated string
	if err := sc.Scan(&s.ID, &s.Name, &s.Kind, &s.Contact, &s.Pathway, &s.TZ, &hours, &sf, &created, &updated); err != nil {
		return s, err
	}
	s.Hours = json.RawMessage(hours)
	_ = json.Unmarshal([]byte(sf), &s.SharedFields)
	s.Created, s.Updated = parseTime(created), parseTime(updated)
	return s, nil
}

// domain.Service returns one directory entry.
func (db *DB) Service(ctx context.Context, id string) (domain.Service, error) {
	var s domain.Service
	err := db.view(ctx, func(tx *Tx) (err error) { s, err = findService(ctx, tx, id); return err })
	return s, err
}

func findService(ctx context.Context, tx *Tx, id string) (domain.Service, error) {
	s, err := scanService(tx.QueryRowContext(ctx, `SELECT `+serviceCols+` FROM services WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, notFound("service", id)
	}
	return s, err
}

// Services lists the directory.
func (db *DB) Services(ctx context.Context) ([]domain.Service, error) {
	var out []domain.Service
	err := db.view(ctx, func(tx *Tx) (err error) { out, err = listServices(ctx, tx); return err })
	return out, err
}

func listServices(ctx context.Context, tx *Tx) ([]domain.Service, error) {
	var out []domain.Service
	rows, err := tx.QueryContext(ctx, `SELECT `+serviceCols+` FROM services ORDER BY name, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		s, err := scanService(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// UpsertPerson creates or updates a person (not their password or lockout:
// see SetPassword; sign-in failures are RecordSignIn's). A worker or supervisor whose team changes
// has their devices' scope recomputed at their next sync.
func (db *DB) UpsertPerson(ctx context.Context, p domain.Person) error {
	return db.update(ctx, func(tx *Tx) error { return upsertPerson(ctx, tx, p) })
}

// UpsertPeople creates or updates many people in one transaction.
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
	_, err := tx.ExecContext(ctx, `INSERT INTO people (id, name, email, role, team_id, service_id, tz, hours, password_hash, safeguarding_lead, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, role = excluded.role,
			team_id = excluded.team_id, service_id = excluded.service_id, tz = excluded.tz, hours = excluded.hours,
			password_hash = COALESCE(excluded.password_hash, people.password_hash),
			safeguarding_lead = excluded.safeguarding_lead, updated = excluded.updated`,
		p.ID, p.Name, nullString(p.Email), p.Role, nullString(p.TeamID), nullString(p.ServiceID), p.TZ, string(hours),
		nullString(p.PasswordHash), p.SafeguardingLead, tx.NowText(), tx.NowText())
	if err != nil {
		if isUniqueViolation(err) {
			return domain.Errorf(domain.ECONFLICT, "upsert person", "email already in use")
		}
		return err
	}
	if p.Supervises != nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM team_supervisors WHERE person_id = ?`, p.ID); err != nil {
			return err
		}
		for _, t := range p.Supervises {
			if _, err := tx.ExecContext(ctx, `INSERT INTO team_supervisors (person_id, team_id) VALUES (?, ?)`, p.ID, t); err != nil {
				return err
			}
		}
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const personCols = `id, name, COALESCE(email, ''), role, COALESCE(team_id, ''), COALESCE(service_id, ''), tz, hours,
	COALESCE(password_hash, ''), failed_logins, locked_until, safeguarding_lead, created, updated, deactivated, COALESCE(totp_secret, ''), lang`

func scanPerson(sc interface{ Scan(...any) error }) (domain.Person, error) {
	var p domain.Person
	var hours, created, updated string
	err := sc.Scan(&p.ID, &p.Name, &p.Email, &p.Role, &p.TeamID, &p.ServiceID, &p.TZ, &hours,
		&p.PasswordHash, &p.FailedLogins, nullTime{&p.LockedUntil}, &p.SafeguardingLead, &created, &updated, nullTime{&p.Deactivated}, &p.TOTPSecret, &p.Lang)
	p.Hours = json.RawMessage(hours)
	p.Created, p.Updated = parseTime(created), parseTime(updated)
	return p, err
}

func findPerson(ctx context.Context, tx *Tx, where string, arg any) (domain.Person, error) {
	p, err := scanPerson(tx.QueryRowContext(ctx, `SELECT `+personCols+` FROM people WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("person", fmt.Sprint(arg))
	} else if err != nil {
		return p, err
	}
	p.Supervises, err = supervisedTeams(ctx, tx, p.ID)
	return p, err
}

func supervisedTeams(ctx context.Context, tx *Tx, personID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT team_id FROM team_supervisors WHERE person_id = ? ORDER BY team_id`, personID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// domain.Person returns one person by id.
func (db *DB) Person(ctx context.Context, id string) (domain.Person, error) {
	var p domain.Person
	err := db.view(ctx, func(tx *Tx) (err error) { p, err = findPerson(ctx, tx, "id = ?", id); return err })
	return p, err
}

// PersonByEmail returns the person who signs in with email (portal login).
func (db *DB) PersonByEmail(ctx context.Context, email string) (domain.Person, error) {
	var p domain.Person
	err := db.view(ctx, func(tx *Tx) (err error) { p, err = findPerson(ctx, tx, "email = ?", email); return err })
	return p, err
}

// People lists people, by name.
func (db *DB) People(ctx context.Context, f domain.PeopleFilter) ([]domain.Person, error) {
	var out []domain.Person
	err := db.view(ctx, func(tx *Tx) (err error) { out, err = findPeople(ctx, tx, f); return err })
	return out, err
}

func findPeople(ctx context.Context, tx *Tx, f domain.PeopleFilter) ([]domain.Person, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+personCols+` FROM people
		WHERE (? = '' OR role = ?) AND (? = '' OR team_id = ?) AND (? = '' OR service_id = ?)
		ORDER BY name, id`, f.Role, f.Role, f.TeamID, f.TeamID, f.ServiceID, f.ServiceID)
	out, err := collect(rows, err, func(rows *sql.Rows) (domain.Person, error) { return scanPerson(rows) })
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	// One query for every listed person's teams, not one per person: the
	// rules list everyone for each high-concern encounter.
	rows, err = tx.QueryContext(ctx, `SELECT ts.person_id, ts.team_id FROM team_supervisors ts JOIN people p ON p.id = ts.person_id
		WHERE (? = '' OR p.role = ?) AND (? = '' OR p.team_id = ?) AND (? = '' OR p.service_id = ?)
		ORDER BY ts.person_id, ts.team_id`, f.Role, f.Role, f.TeamID, f.TeamID, f.ServiceID, f.ServiceID)
	pairs, err := collect(rows, err, func(rows *sql.Rows) (pt [2]string, err error) { return pt, rows.Scan(&pt[0], &pt[1]) })
	if err != nil {
		return nil, err
	}
	teams := map[string][]string{}
	for _, pt := range pairs {
		teams[pt[0]] = append(teams[pt[0]], pt[1])
	}
	for i := range out {
		out[i].Supervises = teams[out[i].ID]
	}
	return out, nil
}

// SetPassword stores a password hash (bcrypt; hashing is the caller's job).
func (db *DB) SetPassword(ctx context.Context, personID, hash string) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE people SET password_hash = ?, failed_logins = 0, locked_until = NULL, updated = ? WHERE id = ?`,
			hash, tx.NowText(), personID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("person", personID)
		}
		return nil
	})
}
