package postgres

import (
	"context"

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
		tag, err := tx.Exec(ctx, `UPDATE people SET lang = $1, updated = $2 WHERE id = $3`, lang, tx.now, personID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("person", personID)
		}
		return nil
	})
}
