#!/usr/bin/env bash
# Held changesets vs an unrelated push: two servers side by side over
# loopback HTTP, one with no held changesets (the baseline, same run) and
# one with HELD (default 20,000); the same 1-op push to each in turn; prints
# the ratio of the medians (target <= 1.5), then a one-request flood of
# 20,000 held changesets (bounded per device: most are refused, not stored).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/goflags.sh"
cd "$(dirname "$0")"
GO=${GO:-go}
out=${BENCH_OUT:-.}
"$GO" run . -held "${HELD:-20000}" | tee "$out/held.txt"
