#!/usr/bin/env bash
# Push delivery benchmark: 100,000 follow-ups falling due at once, delivered through the real
# Firebase Admin SDK to a local fake FCM endpoint, against a bare net/http baseline measured in
# the same run. Extra arguments go to the program (-n, -concurrency, -batch).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/goflags.sh"
cd "$(dirname "$0")/../.."
GO="${GO:-go}"
export CGO_ENABLED=1
mkdir -p bench-results
echo "== push: ${*:-defaults}"
"$GO" run ./bench/push "$@" | tee bench-results/push.txt
