#!/usr/bin/env bash
# Server benchmarks (loopback only): a week offline synced by one phone vs bulk insert.
set -euo pipefail
GO=${GO:-go}
out=${BENCH_OUT:-.}
"$GO" test -run '^$' -bench 'WeekSync' -benchtime 1x -timeout 30m . | tee "$out/week.txt"
