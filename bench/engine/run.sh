#!/usr/bin/env bash
# Engine benchmark: a realistic week of one team's changes, with JSON baselines.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/goflags.sh"
cd "$(dirname "$0")/../.."
go run ./bench/engine
