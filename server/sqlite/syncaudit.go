package sqlite

import (
	"context"
	"encoding/json"

	"github.com/joinedup/joinedup/server/domain"
)

// syncAuditDetail is the detail of a sync's audit row, encoded as the map
// it was written from before (encoding/json writes a map's keys sorted, so
// the fields are in that order), without the map: a sync's audit row was
// a tenth of the server's allocations under load.
// TestSyncAuditDetailIsTheMapsEncoding holds the two to the same bytes.
type syncAuditDetail struct {
	Accepted       int      `json:"accepted"`
	ChangesetsSent int      `json:"changesets_sent"`
	Drop           int      `json:"drop"`
	Pushed         int      `json:"pushed"`
	Quarantined    int      `json:"quarantined"`
	Records        []string `json:"records"`
	SnapshotsSent  int      `json:"snapshots_sent"`
}

func syncAuditOf(res *domain.SyncResult) syncAuditDetail {
	return syncAuditDetail{Pushed: len(res.Results), Accepted: res.Accepted, Quarantined: res.Quarantined,
		ChangesetsSent: len(res.Changesets), SnapshotsSent: len(res.Snapshots), Drop: len(res.Drop), Records: sentRecords(res)}
}

// syncAuditMap is the same detail as the map other audit rows use.
func (d syncAuditDetail) syncAuditMap() map[string]any {
	return map[string]any{"pushed": d.Pushed, "accepted": d.Accepted, "quarantined": d.Quarantined,
		"changesets_sent": d.ChangesetsSent, "snapshots_sent": d.SnapshotsSent, "drop": d.Drop, "records": d.Records}
}

// appendSyncAudit writes the audit row of a sync that pushed or sent
// anything: who, which device, what counts, which records it was sent.
func appendSyncAudit(ctx context.Context, tx *Tx, req domain.SyncRequest, res *domain.SyncResult) error {
	detail, err := json.Marshal(syncAuditOf(res))
	if err != nil {
		return err
	}
	return appendAuditJSON(ctx, tx, domain.AuditEntry{PersonID: req.Person.ID, DeviceID: req.Device.ID, Action: "sync"}, detail)
}
