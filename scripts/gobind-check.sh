#!/usr/bin/env bash
# Checks that the mobile SDK can be bound for Android:
#   1. go build ./mobile-sdk (gobind itself does not stop on type errors);
#   2. gobind -lang=java -outdir <tmp> ./mobile-sdk, failing on error;
#   3. fails if gobind skipped any exported identifier: gobind silently drops
#      what it cannot bind (chan, map, slices of structs, ...) and leaves a
#      "// skipped ..." comment. Set GOBIND_ALLOW_SKIPPED=1 to only warn.
# Needs golang.org/x/mobile in go.mod (gobind resolves golang.org/x/mobile/bind
# through the module); `go get -tool golang.org/x/mobile/cmd/gobind` adds it and
# keeps `go mod tidy` from dropping it.
# Skips, exit 0, while ./mobile-sdk has no Go files.
# gobind comes from `go install golang.org/x/mobile/cmd/gobind@latest`
# (.ci/run does this) and is looked up on PATH, then in $(go env GOPATH)/bin.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/./goflags.sh"
cd "$(dirname "$0")/.."

GO=${GO:-go}
pkg=./mobile-sdk

if [ ! -d "$pkg" ] || ! ls "$pkg"/*.go >/dev/null 2>&1; then
	echo "gobind-check: $pkg has no Go package yet, skipping"
	exit 0
fi

gobind=$(command -v gobind || true)
if [ -z "$gobind" ]; then
	gobind="$("$GO" env GOPATH | cut -d: -f1)/bin/gobind"
	if [ ! -x "$gobind" ]; then
		echo "gobind-check: gobind not found on PATH or in \$(go env GOPATH)/bin;" >&2
		echo "  install it: go install golang.org/x/mobile/cmd/gobind@latest" >&2
		exit 1
	fi
fi

echo "gobind-check: go build $pkg"
CGO_ENABLED=${CGO_ENABLED:-1} "$GO" build "$pkg"

outdir=$(mktemp -d)
trap 'rm -rf "$outdir"' EXIT
echo "gobind-check: $gobind -lang=java $pkg"
"$gobind" -lang=java -outdir "$outdir" "$pkg"
n=$(find "$outdir" -name '*.java' | wc -l)
if [ "$n" -eq 0 ]; then
	echo "gobind-check: gobind produced no Java sources" >&2
	exit 1
fi

skipped=$(grep -rh --include='*.java' -o 'skipped .*' "$outdir/java" | sort -u || true)
mapfile -t skipped_lines <<<"$skipped"
if [ -n "$skipped" ]; then
	echo "gobind-check: gobind could not bind these exported identifiers:" >&2
	printf '  %s\n' "${skipped_lines[@]}" >&2
	if [ "${GOBIND_ALLOW_SKIPPED:-0}" != 1 ]; then
		echo "gobind-check: FAILED (use only string, []byte, bool, int*, float*, error, structs and interfaces of those)" >&2
		exit 1
	fi
fi
echo "gobind-check: ok ($n Java files)"
