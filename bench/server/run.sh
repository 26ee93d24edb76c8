#!/usr/bin/env bash
# Server benchmarks over loopback HTTP with a real SQLite file (not part of
# make test; make bench runs it). Each figure is printed with a ratio to a
# baseline measured in the same run:
#   week: fixtures.Week() pushed through POST /v1/sync in pages, then pulled
#         by a fresh device, vs the same rows bulk-inserted in one transaction;
#   load: DEVICES (default 1000) devices syncing at once, SYNCS each (push a
#         small changeset + pull), vs as many GET /healthz through the same pool;
#   orgsize: one device's incremental pull at ORGSIZES (default 0,1000,10000,
#         100000) other-team changesets since its cursor, vs the 0 case;
#   week on Postgres (-store postgres, PGWEEK=0 skips it): the same push to a
#         server process over a throw-away Postgres cluster, vs the final
#         rows COPYed into Postgres in one transaction; CPU of the server
#         process and of the cluster's processes (/proc);
#   openloop: OLDEVICES (default 1000) devices of 20 teams offered syncs at
#         fixed rising rates (open loop: latency from when each was due) by a
#         server in its own process, until p99 reaches 250 ms; server CPU per
#         sync from /proc; then a burst of every device at once; vs an idle
#         GET /healthz round trip and a raw SQLite write, same run;
#   firstsync: a fresh worker device's snapshot of a team of TEAMSIZES
#         (default 2000,20000,60000) 1 KB records: time per page vs the smallest;
#         then fieldsync: a fresh phone's first sync after HISTORIES (default
#         1,10,52) weeks of a busy team's history, whole and as the field
#         subset (FIELDWEEKS, default 2): bytes and CPU vs 1 week;
#   notecurve: one pushed keystroke to a note after NOTESIZES (default
#         0,100,1000,10000) prior edits, server in its own process: wall
#         time and server CPU per push vs the fresh note, NOTERUNS (default
#         3) runs of NOTEPUSHES (default 200), one curve per NOTETRACES
#         (default paper,churn: the automerge-paper editing trace, and a
#         short note revised again and again).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/goflags.sh"
cd "$(dirname "$0")"
GO=${GO:-go}
out=${BENCH_OUT:-.}
# Built, not run with go run: the openloop benchmark runs this binary again
# as its server process.
bin=$(mktemp -d)/serverbench
trap 'rm -rf "$(dirname "$bin")"' EXIT
"$GO" build -o "$bin" ./serverbench
"$bin" -devices "${DEVICES:-1000}" -oldevices "${OLDEVICES:-1000}" -syncs "${SYNCS:-3}" -orgsizes "${ORGSIZES:-0,1000,10000,100000}" -teamsizes "${TEAMSIZES:-2000,20000,60000}" -histories "${HISTORIES:-1,10,52}" -fieldweeks "${FIELDWEEKS:-2}" -notesizes "${NOTESIZES:-0,100,1000,10000}" -noteruns "${NOTERUNS:-3}" -notepushes "${NOTEPUSHES:-200}" -notetrace "${NOTETRACES:-paper,churn}" | tee "$out/server.txt"
if [ "${PGWEEK:-1}" != 0 ]; then
	"$bin" -run week -store postgres | tee -a "$out/server.txt"
fi
