#!/usr/bin/env bash
# Runs every Fuzz* target of the module for FUZZTIME each (default 30s).
# `go test -fuzz` accepts one package and one target per run, hence the loop.
# A failing input is written to <pkg>/testdata/fuzz/<Target>/: commit it, it
# then runs as a regression case in plain `make test`.
# Env: GO, FUZZTIME, FUZZ_PKGS (default ./...), FUZZ_MATCH (default ^Fuzz).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/./goflags.sh"
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
read -r -a pkgs <<<"${FUZZ_PKGS:-./...}"
export CGO_ENABLED=${CGO_ENABLED:-1}

targets=$(GO="$GO" bash scripts/list-tests.sh "${FUZZ_MATCH:-^Fuzz}" "${pkgs[@]}")
if [ -z "$targets" ]; then
	echo "fuzz: no Fuzz* targets found"
	exit 0
fi

failed=()
while read -r pkg name; do
	echo "=== fuzz $pkg $name for $FUZZTIME"
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"; then
		failed+=("$pkg $name")
	fi
done <<<"$targets"

if [ "${#failed[@]}" -gt 0 ]; then
	printf 'fuzz: FAILED %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz: all $(wc -l <<<"$targets") targets passed"
