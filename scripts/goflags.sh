# Sourced by every script that runs the go tool: the SQLite store needs
# go-sqlite3's FTS5 (full-text search), which only the sqlite_fts5 build tag
# compiles in; a binary without it refuses to open its database. The Makefile
# and .ci/run export the same GOFLAGS.
case " ${GOFLAGS:-} " in
*sqlite_fts5*) ;;
*) export GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=sqlite_fts5" ;;
esac
