package portal

import "github.com/joinedup/joinedup/server/sqlite"

// sqliteStore is *sqlite.DB as the portal's Store. (Its DB.Devices
// workaround is gone: the store's column list is fixed.)
type sqliteStore struct{ *sqlite.DB }
