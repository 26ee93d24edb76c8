package postgres

// SearchSQL is the body of a full-text search, for its plan test.
const SearchSQL = searchFrom
