package sqlite

import (
	"context"
	"strings"
)

// insertRows runs head (an "INSERT INTO t (cols) VALUES" prefix) with rows
// of len(rows[i]) parameters each, several rows a statement, then tail
// (an ON CONFLICT clause, or ""). Statements carry 64, 16, 4 or 1 rows, so
// the connection's statement cache (an LRU of 256) keeps four compiled
// forms of each insert, not one per row count.
func insertRows(ctx context.Context, tx *Tx, head, tail string, rows [][]any) error {
	for len(rows) > 0 {
		n := 1
		for _, size := range []int{64, 16, 4} {
			if len(rows) >= size {
				n = size
				break
			}
		}
		chunk := rows[:n]
		rows = rows[n:]
		var q strings.Builder
		q.WriteString(head)
		one := "(?" + strings.Repeat(", ?", len(chunk[0])-1) + ")"
		args := make([]any, 0, n*len(chunk[0]))
		for i, r := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(one)
			args = append(args, r...)
		}
		q.WriteString(tail)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}
