#!/usr/bin/env bash
# The many-devices load over loopback HTTP against real joinedup processes,
# in one run: 1 node on SQLite (the baseline), 1 node on Postgres, 3 nodes on
# one Postgres (a throw-away cluster, as in make test; JOINEDUP_TEST_DATABASE_URL
# uses an existing server). DEVICES (default 30) phones, ROUNDS (default 20)
# rounds of save + sync each; prints syncs/s, p50, p99 and the ratios to the
# SQLite node, with why.
set -euo pipefail
cd "$(dirname "$0")"
GO=${GO:-go}
out=${BENCH_OUT:-.}
"$GO" run -tags sqlite_fts5 . -devices "${DEVICES:-30}" -rounds "${ROUNDS:-20}" | tee "$out/nodes.txt"
