package postgres

// CommitLockKey is the commit lock's advisory key (for the lock test).
const CommitLockKey = commitLockKey
