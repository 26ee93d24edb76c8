package sqlite

import (
	"context"
	"fmt"

	"github.com/joinedup/joinedup/server/domain"
)

// SetPersonLanguage stores a person's own language choice ("" clears it).
// The value is the caller's to check against the offered languages; the
// store only refuses what no language code looks like.
func (db *DB) SetPersonLanguage(ctx context.Context, personID, lang string) error {
	if len(lang) > 8 {
		return domain.Errorf(domain.EINVALID, "set language", "unknown language %q", lang)
	}
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE people SET lang = ?, updated = ? WHERE id = ?`, lang, tx.NowText(), personID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("person", personID)
		}
		return nil
	})
}

// recipientLangs maps the people among recipients (ids; a service id
// matches nobody) to the language they chose, for their phones' texts.
func (s *Outbox) recipientLangs(ctx context.Context, recipients []any) (map[string]string, error) {
	out := map[string]string{}
	const chunk = 500
	for i := 0; i < len(recipients); i += chunk {
		part := recipients[i:min(i+chunk, len(recipients))]
		rows, err := s.db.write.QueryContext(ctx, `SELECT id, lang FROM people WHERE lang <> '' AND id IN (`+outboxPlaceholders(len(part))+`)`, part...)
		if err != nil {
			return nil, fmt.Errorf("push: targets: %w", err)
		}
		for rows.Next() {
			var id, lang string
			if err := rows.Scan(&id, &lang); err != nil {
				rows.Close()
				return nil, fmt.Errorf("push: targets: %w", err)
			}
			out[id] = lang
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("push: targets: %w", err)
		}
	}
	return out, nil
}
