#!/usr/bin/env bash
# Field app benchmark: the wasm bundle's size (raw, gzip -9, Brotli 11 as
# `make webapp` writes them and the server sends them); the first usable screen in Chromium over a simulated 3G link and
# from the service worker's cache, each as a ratio to a baseline of the same
# run (load/); and the engine applying the week's changesets compiled to wasm
# (under Node's V8) as a ratio against native.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/goflags.sh"
cd "$(dirname "$0")/../.."
GO=${GO:-go}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The engine directory as `make webapp` leaves it.
mkdir -p "$tmp/engine"
GOOS=js GOARCH=wasm CGO_ENABLED=0 "$GO" build -trimpath -ldflags=-s -o "$tmp/engine/app.wasm" ./mobile-sdk/webapp/wasm
cp "$("$GO" env GOROOT)/lib/wasm/wasm_exec.js" "$tmp/engine/"
"$GO" run ./mobile-sdk/webapp/cmd/precompress "$tmp/engine"
raw=$(stat -c %s "$tmp/engine/app.wasm")
gz=$(gzip -9 -c "$tmp/engine/app.wasm" | wc -c)
br=$(stat -c %s "$tmp/engine/app.wasm.br")
awk -v r="$raw" -v g="$gz" -v b="$br" 'BEGIN { printf "field app bundle (app.wasm)       %8.2f MB raw   %6.2f MB gzip -9   %6.2f MB brotli 11 (sent)\n", r/1e6, g/1e6, b/1e6 }'
if [ -n "${BENCH_OUT:-}" ]; then echo "{\"wasm_bytes\": $raw, \"wasm_gzip_bytes\": $gz, \"wasm_brotli_bytes\": $br}" >"$BENCH_OUT/bundle.json"; fi

chrome=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ -x "$chrome" ]; then
	"$GO" build -o "$tmp/joinedup" ./server/cmd/joinedup
	"$GO" run ./bench/webapp/load -server "$tmp/joinedup" -engine "$tmp/engine" -chrome "$chrome" \
		${BENCH_OUT:+-json "$BENCH_OUT/webapp_load.json"}
elif [ -n "${CI:-}" ]; then
	echo "no Chromium at $chrome (set CHROMIUM_PATH)" >&2
	exit 1
else
	echo "load timings: skipped (no Chromium at $chrome)"
fi

if ! command -v node >/dev/null; then
	echo "engine on wasm: skipped (no node to run it)"
	exit 0
fi
"$GO" build -o "$tmp/native" ./bench/webapp
GOOS=js GOARCH=wasm CGO_ENABLED=0 "$GO" build -o "$tmp/apply.wasm" ./bench/webapp
native=$("$tmp/native")
wasm=$(node "$("$GO" env GOROOT)/lib/wasm/wasm_exec_node.js" "$tmp/apply.wasm")
n_us=${native##*apply_us=}
w_us=${wasm##*apply_us=}
echo "engine applying the week (${native%% *}), best of 5:"
awk -v n="$n_us" -v w="$w_us" 'BEGIN {
	printf "  native                          %8.1f ms\n", n/1000
	printf "  wasm (Node V8)                  %8.1f ms   %.2f x native\n", w/1000, w/n }'
