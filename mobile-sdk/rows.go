//go:build !js

package mobilesdk

import "database/sql"

// collect reads every row of a query with scan and closes the rows, so that
// what follows may write to the database (SQLite allows one statement's rows
// open per connection at a time here).
func collect[T any](rows *sql.Rows, err error, scan func(*sql.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}
