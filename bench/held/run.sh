#!/usr/bin/env bash
# Held changesets vs an unrelated push: the same 1-op push over loopback
# HTTP with none held (baseline, same run) and with HELD (default 20,000)
# held changesets present; prints the ratio (target <= 1.5).
set -euo pipefail
cd "$(dirname "$0")"
GO=${GO:-go}
out=${BENCH_OUT:-.}
"$GO" run . -held "${HELD:-20000}" | tee "$out/held.txt"
