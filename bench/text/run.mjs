// Replays the same traces as bench/text/gotrace (every .json.gz in the
// directory, in any of the editing-traces formats: sequential, concurrent,
// or an eg-walker conformance array of histories) in Yjs, Automerge and
// diamond-types, and prints one JSON line per (impl, trace): best-of-N ms,
// live heap MB after the replay (run node with --expose-gc), encoded bytes
// of the final document.
import fs from 'node:fs'
import zlib from 'node:zlib'
import path from 'node:path'
import * as Y from 'yjs'
import * as A from '@automerge/automerge'
import DT from 'diamond-types-node'

const dir = process.argv[2] ?? '../../syncengine/testdata'
const runs = Number(process.argv[3] ?? 3)
const load = file => JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(dir, file))).toString())
const formatOf = t => Array.isArray(t) ? 'conformance' : t.kind === 'concurrent' ? 'concurrent' : 'sequential'


const gc = () => { if (global.gc) { global.gc(); global.gc() } }
// external covers Automerge's WASM memory, which never shrinks: its figure is
// only meaningful when the heap measurement is the process's first replay.
const heap = () => { const m = process.memoryUsage(); return m.heapUsed + m.external }

// Sequential trace: one replica, local edits only.
const yjsSeq = t => {
  const doc = new Y.Doc()
  const text = doc.getText('t')
  for (const tx of t.txns) for (const [pos, del, ins] of tx.patches) {
    if (del > 0) text.delete(pos, del)
    if (ins !== '') text.insert(pos, ins)
  }
  return { content: text.toString(), bytes: () => Y.encodeStateAsUpdate(doc).length }
}

const amSeq = t => {
  let doc = A.from({ t: '' })
  // One change per txn, as an app typing live would produce.
  for (const tx of t.txns) {
    doc = A.change(doc, d => {
      for (const [pos, del, ins] of tx.patches) A.splice(d, ['t'], pos, del, ins)
    })
  }
  return { content: doc.t, bytes: () => A.save(doc).length }
}

// Concurrent trace: each agent is a replica that merges the txns its next txn
// depends on, then types it (the same simulation as the Go side).
function simulate(t, impl) {
  const agents = []
  for (let i = 0; i < t.numAgents; i++) agents.push({ doc: impl.create(i), applied: new Uint8Array(t.txns.length) })
  const updates = new Array(t.txns.length)
  t.txns.forEach((tx, i) => {
    const a = agents[tx.agent]
    const stack = [...tx.parents], missing = []
    while (stack.length) {
      const p = stack.pop()
      if (a.applied[p]) continue
      a.applied[p] = 1
      missing.push(p)
      stack.push(...t.txns[p].parents)
    }
    missing.sort((x, y) => x - y)
    a.doc = impl.merge(a.doc, missing.map(p => updates[p]))
    const [doc, update] = impl.local(a.doc, tx.patches)
    a.doc = doc
    updates[i] = update
    a.applied[i] = 1
  })
  const a = agents[0]
  const rest = []
  for (let i = 0; i < t.txns.length; i++) if (!a.applied[i]) rest.push(updates[i])
  a.doc = impl.merge(a.doc, rest)
  return a.doc
}

const yjsImpl = {
  create: i => { const d = new Y.Doc(); d.clientID = i + 1; return d },
  merge: (doc, ups) => { for (const u of ups) if (u) Y.applyUpdate(doc, u); return doc },
  local: (doc, patches) => {
    const text = doc.getText('t')
    let update = null
    const grab = u => { update = u }
    doc.on('update', grab)
    doc.transact(() => {
      for (const [pos, del, ins] of patches) {
        if (del > 0) text.delete(pos, del)
        if (ins !== '') text.insert(pos, ins)
      }
    })
    doc.off('update', grab)
    return [doc, update]
  },
}

const amImpl = {
  create: i => {
    const base = A.from({ t: '' }, { actor: '00' })
    return A.clone(base, { actor: (i + 1).toString(16).padStart(2, '0') })
  },
  merge: (doc, changes) => {
    if (changes.length === 0) return doc
    const [d] = A.applyChanges(doc, changes.flat())
    return d
  },
  local: (doc, patches) => {
    const d = A.change(doc, x => { for (const [pos, del, ins] of patches) A.splice(x, ['t'], pos, del, ins) })
    const c = A.getLastLocalChange(d)
    return [d, c ? [c] : []]
  },
}

const yjsConc = t => { const d = simulate(t, yjsImpl); return { content: d.getText('t').toString(), bytes: () => Y.encodeStateAsUpdate(d).length } }
const amConc = t => { const d = simulate(t, amImpl); return { content: d.t, bytes: () => A.save(d).length } }

// diamond-types, as the eg-walker paper runs it: every op goes into one
// oplog at the version it was made at (its txn's parents, then the op
// before it in the txn), and the text is checked out once at the end.
const agentName = i => 'a' + String(i).padStart(6, '0')
const dtSeq = t => {
  const doc = new DT.Doc('a')
  for (const tx of t.txns) for (const [pos, del, ins] of tx.patches) {
    if (del > 0) doc.del(pos, del)
    if (ins !== '') doc.ins(pos, ins)
  }
  const content = doc.get()
  return { content, bytes: () => { const n = doc.toBytes().length; doc.free(); return n } }
}
// dtOplog adds txns whose parents are given as lists of local versions
// (frontiers), returning the final content and encoded size.
const dtOplog = (txns, parentsOf, agentOf, opsOf) => {
  const log = new DT.OpLog()
  const ends = new Array(txns.length)
  txns.forEach((tx, i) => {
    log.setAgent(agentOf(tx))
    let v = Uint32Array.from(parentsOf(tx, ends))
    for (const [pos, del, ins] of opsOf(tx)) {
      if (del > 0) v = Uint32Array.of(log.del(pos, del, v))
      if (ins !== '') v = Uint32Array.of(log.ins(pos, ins, v))
    }
    ends[i] = v
  })
  const b = log.checkout()
  const content = b.get()
  b.free()
  return { content, bytes: () => { const n = log.toBytes().length; log.free(); return n } }
}
const dtConc = t => dtOplog(t.txns, (tx, ends) => tx.parents.flatMap(p => [...ends[p]]), tx => agentName(tx.agent), tx => tx.patches)
// Conformance histories name parents by local version already, and number
// events exactly as diamond-types does (one per inserted or deleted char).
const dtConf = hs => {
  const content = [], sizes = []
  for (const h of hs) {
    const r = dtOplog(h.txns, tx => tx.parents, tx => tx.agent, tx => tx.ops)
    sizes.push(r.bytes)
    content.push(r.content)
  }
  return { content, bytes: () => sizes.reduce((n, f) => n + f(), 0) }
}

const impls = {
  sequential: [['yjs', yjsSeq], ['automerge', amSeq], ['diamond-types', dtSeq]],
  concurrent: [['yjs', yjsConc], ['automerge', amConc], ['diamond-types', dtConc]],
  conformance: [['diamond-types', dtConf]],
}
// History 621 of the conformance file expects a value no FugueMax
// integration gives (see syncengine/text/conf621_test.go); diamond-types
// and JoinedUp agree on "ifOGsycr_mLA".
const contentOK = (t, content) => Array.isArray(t)
  ? t.every((h, i) => content[i] === h.endContent || i === 621)
  : content === t.endContent

const only = process.env.ONLY
for (const file of fs.readdirSync(dir).filter(f => f.endsWith('.json.gz')).sort()) {
  const trace = file.replace(/\.json\.gz$/, '')
  const t = load(file)
  for (const [impl, f] of impls[formatOf(t)]) {
    if (only && !only.split(',').includes(impl)) continue
    let best = Infinity, bestCPU = Infinity, res, bytes
    gc()
    const before = heap()
    res = f(t)
    gc()
    const heapMB = Math.max(0, heap() - before) / (1 << 20)
    res.bytes()
    for (let i = 0; i < runs; i++) {
      res = null
      gc()
      // Timed: every op applied and the end content read out, as the Go
      // side times it. Encoding (and freeing diamond-types' WASM objects)
      // comes after, untimed on both sides.
      const start = performance.now(), cpu0 = process.cpuUsage()
      res = f(t)
      best = Math.min(best, performance.now() - start)
      const cpu = process.cpuUsage(cpu0)
      bestCPU = Math.min(bestCPU, (cpu.user + cpu.system) / 1000)
      bytes = res.bytes()
    }
    if (!contentOK(t, res.content)) throw Error(`${impl} ${trace}: end content differs`)
    console.log(JSON.stringify({ impl, trace, ms: Math.round(best * 1000) / 1000, cpuMs: Math.round(bestCPU * 1000) / 1000, heapMB, bytes }))
  }
}
