package portal

import (
	"context"
	"fmt"

	"github.com/joinedup/joinedup/server/sqlite"
)

// sqliteStore is *sqlite.DB with one workaround.
//
// TODO(server/sqlite): DB.Devices fails with "no such column: d." because
// prefixCols splits deviceCols on every comma, including the one inside
// COALESCE(revoked_by, ”). Until that is fixed, Devices falls back to
// listing device ids (the only read of the store's tables outside its
// package) and loading each through DB.Device, which works.
type sqliteStore struct{ *sqlite.DB }

func (s sqliteStore) Devices(ctx context.Context, f sqlite.DeviceFilter) ([]sqlite.Device, error) {
	out, err := s.DB.Devices(ctx, f)
	if err == nil {
		return out, nil
	}
	rows, qerr := s.DB.SQL().QueryContext(ctx, `SELECT d.id FROM devices d JOIN people p ON p.id = d.person_id
		WHERE (? = '' OR d.person_id = ?) AND (? = '' OR p.team_id = ?) AND (? = '' OR d.status = ?)
		ORDER BY d.created DESC, d.id`, f.PersonID, f.PersonID, f.TeamID, f.TeamID, f.Status, f.Status)
	if qerr != nil {
		return nil, fmt.Errorf("list devices: %w (store: %v)", qerr, err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out = make([]sqlite.Device, 0, len(ids))
	for _, id := range ids {
		d, err := s.DB.Device(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
