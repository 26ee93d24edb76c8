-- Before replica ids were checked against the pushing device, a device could
-- push changesets under another device's replica id; they were quarantined
-- under the victim's (replica, start) key and made the victim's own saves at
-- those counters come back "quarantined". Such rows (the pushing device does
-- not own the replica) are closed as discarded by the server, so they block
-- nobody; they stay on record for review.
UPDATE quarantine
SET reviewed_by = 'server',
    reviewed_at = strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'),
    resolution = 'discard'
WHERE reviewed_at IS NULL
  AND device_id IS NOT NULL
  AND replica_id IS NOT (SELECT d.replica_id FROM devices d WHERE d.id = quarantine.device_id);
