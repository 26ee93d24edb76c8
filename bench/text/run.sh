#!/bin/sh
# Side-by-side benchmark of syncengine/text against Yjs and Automerge on the
# automerge-paper and friendsforever traces. Usage: bench/text/run.sh [runs]
set -eu
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/goflags.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

(cd "$here" && npm install --no-audit --no-fund --silent >/dev/null)
(cd "$root" && go run ./bench/text/gotrace -traces syncengine/testdata -runs "$runs") >>"$out"
(cd "$here" && node --expose-gc run.mjs "$root/syncengine/testdata" "$runs") >>"$out"

node - "$out" <<'JS'
const lines = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n').map(l => JSON.parse(l))
const get = (impl, trace) => lines.find(l => l.impl === impl && l.trace === trace)
const fmt = (v, d = 1) => v == null ? '-' : v.toFixed(d)
const ratio = (a, b) => (a == null || b == null || b === 0) ? '-' : (a / b).toFixed(2)
console.log('| trace | impl | ms | heap MB | encoded B | ms vs JoinedUp | heap vs JoinedUp | bytes vs JoinedUp |')
console.log('|---|---|---:|---:|---:|---:|---:|---:|')
for (const trace of ['automerge-paper', 'friendsforever']) {
  const ju = get('joinedup', trace)
  for (const impl of ['joinedup', 'yjs', 'automerge']) {
    const r = get(impl, trace)
    if (!r) continue
    console.log(`| ${trace} | ${impl} | ${fmt(r.ms)} | ${fmt(r.heapMB, 2)} | ${r.bytes}${r.rawBytes ? ` (raw ${r.rawBytes})` : ''} | ${ratio(r.ms, ju.ms)} | ${ratio(r.heapMB, ju.heapMB)} | ${ratio(r.bytes, ju.bytes)} |`)
  }
}
console.log('\n(ratios are other / JoinedUp; JoinedUp time / Yjs time = 1 / the Yjs ratio)')
console.log('(JoinedUp bytes are as shipped: AppendBinary in a snappy block, EncodedSize in gotrace; raw = AppendBinary alone.')
console.log(' Yjs is encodeStateAsUpdate, Automerge is save(), which already deflates its columns.)')
JS
