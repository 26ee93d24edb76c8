#!/usr/bin/env bash
# Runs the module's benchmarks:
#   1. every bench/*/run.sh (end-to-end / load benchmarks; each gets BENCH_OUT,
#      a directory for its results, and must only target loopback addresses);
#   2. `go test -run '^$' -bench` over every package that has Benchmark* funcs.
# Results land in bench-results/<UTC timestamp>/ (git-ignored); compare two runs
# with benchstat (go install golang.org/x/perf/cmd/benchstat@latest).
# Env: GO, BENCHCOUNT (default 1), BENCHTIME (default go's 1s), BENCH_PKGS
# (default ./...), BENCH_FILTER (regexp passed to -bench, default .).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/./goflags.sh"
cd "$(dirname "$0")/.."
root=$PWD

GO=${GO:-go}
BENCHCOUNT=${BENCHCOUNT:-1}
read -r -a pkgs <<<"${BENCH_PKGS:-./...}"
export CGO_ENABLED=${CGO_ENABLED:-1}

out="$root/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
status=0
ran=0

shopt -s nullglob
for script in bench/*/run.sh; do
	name=$(basename "$(dirname "$script")")
	echo "=== bench/$name/run.sh"
	mkdir -p "$out/$name"
	if ! (cd "$(dirname "$script")" && BENCH_OUT="$out/$name" GO="$GO" bash ./run.sh) 2>&1 | tee "$out/$name/log.txt"; then
		echo "bench: bench/$name/run.sh FAILED" >&2
		status=1
	fi
	ran=$((ran + 1))
done
shopt -u nullglob

# Plain assignment so that a package whose tests do not compile fails the run.
listed=$(GO="$GO" bash scripts/list-tests.sh '^Benchmark' "${pkgs[@]}")
bench_pkgs=()
[ -n "$listed" ] && mapfile -t bench_pkgs < <(awk '{print $1}' <<<"$listed" | sort -u)
if [ "${#bench_pkgs[@]}" -gt 0 ]; then
	args=(-run '^$' -bench "${BENCH_FILTER:-.}" -benchmem -count "$BENCHCOUNT" -timeout 60m)
	[ -n "${BENCHTIME:-}" ] && args+=(-benchtime "$BENCHTIME")
	echo "=== go test ${args[*]} ${bench_pkgs[*]}"
	if ! "$GO" test "${args[@]}" "${bench_pkgs[@]}" 2>&1 | tee "$out/go-bench.txt"; then
		echo "bench: go benchmarks FAILED" >&2
		status=1
	fi
	ran=$((ran + 1))
fi

if [ "$ran" -eq 0 ]; then
	echo "bench: no bench/*/run.sh and no Benchmark* functions yet"
	rmdir "$out" 2>/dev/null || true
	exit 0
fi
echo "bench: results in ${out#"$root"/}"
exit "$status"
