package portal

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// TestCSVCellsAreFormulaEscaped: area names typed on phones become the
// contacts-by-area report's column headers; in every CSV the portal writes,
// no cell (header or not) may start a spreadsheet formula.
func TestCSVCellsAreFormulaEscaped(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	ctx := context.Background()
	rep, _, err := env.db.ServerReplica(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hostile := []string{`=HYPERLINK("http://x","y")`, "+SUM(1)", "-2+3", "@cmd", "\tTAB"}
	for _, area := range hostile {
		if _, err := rep.Edit(w.worker, func(tx *syncengine.Txn) error {
			id, err := tx.Create(syncengine.TypeEncounter)
			if err != nil {
				return err
			}
			for k, v := range map[string]any{"team_id": w.team, "area": area, "started_at": testNow.Add(-2 * time.Hour)} {
				if err := tx.Set(id, k, v); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("encounter in %q: %v", area, err)
		}
	}
	admin := env.signIn("admin", 1)
	for _, path := range []string{"/portal/reports/csv/contacts-by-area", "/portal/young-people/" + w.yp + "/export?format=csv"} {
		resp := admin.raw("GET", path, nil)
		text := readAll(resp)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for i, row := range rows {
			for _, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("%s row %d: cell %q starts a formula", path, i, cell)
				}
			}
		}
		if path == "/portal/reports/csv/contacts-by-area" && !strings.Contains(text, `'=HYPERLINK`) {
			t.Fatalf("the hostile area is not in the report at all:\n%s", text)
		}
	}
}
