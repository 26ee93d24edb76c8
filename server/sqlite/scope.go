package sqlite

import (
	"context"
	"strings"

	"github.com/joinedup/joinedup/server/domain"
)

// ScopeOf computes a person's current scope.
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

// scopeFilter returns a WHERE fragment over records r and its arguments.
func scopeFilter(s domain.Scope) (string, []any) {
	switch {
	case s.All:
		return "1", nil
	case s.Practitioner():
		return "r.type = 'referral' AND r.service_id = ?", []any{s.ServiceID}
	case len(s.Teams) == 0:
		return "0", nil
	}
	args := make([]any, len(s.Teams))
	for i, t := range s.Teams {
		args[i] = t
	}
	return "r.team_id IN (?" + strings.Repeat(",?", len(s.Teams)-1) + ")", args
}
