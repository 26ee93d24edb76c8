#!/bin/sh
# Side-by-side benchmark of syncengine/text against Yjs, Automerge and
# diamond-types on every editing trace in a directory (sequential,
# concurrent and eg-walker conformance formats).
# Usage: bench/text/run.sh [runs] [traces dir]
# The traces dir defaults to ../shared/traces beside the repository when it
# exists, else the copies in syncengine/testdata.
set -eu
. "$(dirname "$0")/../../scripts/goflags.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-3}
traces=${2:-}
if [ -z "$traces" ]; then
	if [ -d "$root/../shared/traces" ]; then traces=$(cd "$root/../shared/traces" && pwd); else traces="$root/syncengine/testdata"; fi
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT

(cd "$here" && npm install --no-audit --no-fund --silent >/dev/null)
(cd "$root" && go run ./bench/text/gotrace -traces "$traces" -runs "$runs") >>"$out"
(cd "$here" && node --expose-gc run.mjs "$traces" "$runs") >>"$out"

echo "traces: $traces"
node - "$out" <<'JS'
const lines = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n').map(l => JSON.parse(l))
const get = (impl, trace) => lines.find(l => l.impl === impl && l.trace === trace)
const fmt = (v, d = 1) => v == null ? '-' : v.toFixed(d)
const ratio = (a, b) => (a == null || b == null || b === 0) ? '-' : (a / b).toFixed(2)
console.log('| trace | impl | ms | CPU ms | heap MB | encoded B | ms vs JoinedUp | CPU vs JoinedUp | heap vs JoinedUp | bytes vs JoinedUp |')
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
const traces = [...new Set(lines.map(l => l.trace))].sort()
for (const trace of traces) {
  const ju = get('joinedup', trace)
  for (const impl of ['joinedup', 'diamond-types', 'yjs', 'automerge']) {
    const r = get(impl, trace)
    if (!r) continue
    console.log(`| ${trace} | ${impl} | ${fmt(r.ms)} | ${fmt(r.cpuMs)} | ${fmt(r.heapMB, 2)} | ${r.bytes}${r.rawBytes ? ` (raw ${r.rawBytes})` : ''} | ${ratio(r.ms, ju.ms)} | ${ratio(r.cpuMs, ju.cpuMs)} | ${ratio(r.heapMB, ju.heapMB)} | ${ratio(r.bytes, ju.bytes)} |`)
  }
}
console.log('\n(ratios are other / JoinedUp: above 1 means JoinedUp is faster or smaller. ms is wall time, CPU ms the')
console.log(' process CPU of the best run, every thread counted: on a shared machine CPU varies far less than wall time.')
console.log(' Timed on every side: all ops applied and the end content read out; encoding comes after, untimed.)')
console.log('(JoinedUp bytes are as shipped: AppendBinary in a snappy block, EncodedSize in gotrace; raw = AppendBinary alone.')
console.log(' Yjs is encodeStateAsUpdate, Automerge is save(), which already deflates its columns, diamond-types is toBytes().')
console.log(' Concurrent traces: JoinedUp and diamond-types build every op at its own version and merge once; Yjs and')
console.log(' Automerge run one replica per agent. The conformance file is 1,000 small histories, replayed by JoinedUp')
console.log(' and diamond-types only.)')
JS
