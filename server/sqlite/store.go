package sqlite

import "github.com/joinedup/joinedup/server/domain"

// DB is the whole store in the domain's terms.
var (
	_ domain.SyncStore       = (*DB)(nil)
	_ domain.RecordReader    = (*DB)(nil)
	_ domain.DeviceStore     = (*DB)(nil)
	_ domain.Directory       = (*DB)(nil)
	_ domain.StaffSignIn     = (*DB)(nil)
	_ domain.QuarantineStore = (*DB)(nil)
	_ domain.TransferStore   = (*DB)(nil)
	_ domain.AuditLog        = (*DB)(nil)
	_ domain.Operations      = (*DB)(nil)
)
