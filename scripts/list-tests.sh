#!/usr/bin/env bash
# Usage: scripts/list-tests.sh REGEXP [PACKAGES...]
# Prints "<import path> <test name>" for every test, benchmark or fuzz target
# whose name matches REGEXP (e.g. '^Fuzz', '^Benchmark'). Packages default to ./...
# Fails if a package's tests do not compile: a fuzz or bench run over a
# silently shrunken list would look green while testing less.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/./goflags.sh"

GO=${GO:-go}
pattern=${1:?usage: list-tests.sh REGEXP [PACKAGES...]}
shift
[ "$#" -gt 0 ] || set -- ./...

out=$(mktemp)
trap 'rm -f "$out"' EXIT

# `go test -list` prints the matching names of one package, then its
# "ok <pkg> <time>" line; packages without tests print "? <pkg> [no test files]".
if ! "$GO" test -count=1 -run '^$' -list "$pattern" "$@" >"$out" 2>&1; then
	cat "$out" >&2
	echo "list-tests: 'go test -list' failed (see above)" >&2
	exit 1
fi

awk '
	/^ok[ \t]/        { for (i = 0; i < n; i++) print $2, names[i]; n = 0; next }
	/^\?[ \t]/        { n = 0; next }
	/^[A-Za-z_][A-Za-z0-9_]*$/ { names[n++] = $0 }
' "$out"
