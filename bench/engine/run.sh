#!/usr/bin/env bash
# Engine benchmark: a realistic week of one team's changes, with JSON baselines.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/goflags.sh"
cd "$(dirname "$0")/../.."
go run ./bench/engine
# The same keystroke curve through the SDK's edit path (Client.InsertText,
# with the phone's SQLite and sealing), as a ratio to the empty note.
go test -run '^$' -bench SDKKeystrokeCurve -benchtime 1x ./mobile-sdk/ | grep -v '^\(goos\|goarch\|pkg\|cpu\|Benchmark\|PASS\|ok\)'
