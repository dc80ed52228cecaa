#!/usr/bin/env node
/**
 * A long run of the whole pipeline on the real broker:
 *
 *   npm run bench:soak [-- --minutes 60 --shards 2 --rate 20000 --kill-every 60]
 *
 * The pipeline's maximum is measured first (a backlog drained, the steady
 * experiment's measure) unless --rate is given; then, for --minutes, half of
 * it is offered while a random OpB shard is killed every --kill-every
 * seconds (SIGKILL, alternating a kill from outside and a death in an open
 * transaction) and restarted at once. Every 5 s the resident memory of
 * every worker process is sampled; the end-to-end latency of every event
 * (produced → counted in the output, read_committed) is summed up minute by
 * minute. Last, the verifier checks every window against the raw input.
 * Everything goes to bench/results/<id>-soak.json, which the benchmark
 * report renders (memory over time, p99 per minute).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { eventTimeRule } from '@ridepulse/contracts'
import { awaitVerdict, createRng, currentCommit, describeHost, LocalPipeline, OutputLatency, repoRoot, saveResultsFile, startLoad, startLocalKafka, stopOnSignals, type SoakRun, type WorkerEnv } from '@ridepulse/testkit'
import { drainRate } from './experiments/steady.js'
import { killAndRecover, type KillKind } from './experiments/underload.js'
import { summarize } from './stats.js'

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    shards: { type: 'string', default: '2' },
    rate: { type: 'string' },
    'kill-every': { type: 'string', default: '60' },
    port: { type: 'string', default: '29592' },
  },
})
const minutes = Number(args.minutes)
const shards = Number(args.shards)
const killEveryS = Number(args['kill-every'])
const WINDOW = 4000
const SAMPLE_S = 5
const say = (s: string) => process.stdout.write(`${new Date().toISOString()} ${s}\n`)

/** Resident memory of a process in MB, from /proc; undefined once it is gone. */
function rssMB(pid: number | undefined): number | undefined {
  if (!pid) return undefined
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kb ? Math.round(Number(kb) / 102.4) / 10 : undefined
  } catch {
    return undefined
  }
}

stopOnSignals()
const kafka = startLocalKafka(Number(args.port))
const settings = { brokers: [kafka.brokers], clientId: 'bench-soak' }
const startedAt = new Date()
const env: WorkerEnv = { WINDOW_SIZE_MS: String(WINDOW), ALLOWED_LATENESS_MS: '500', OUT_OF_ORDERNESS_MS: '500', IDLE_TIMEOUT_MS: '1500', SNAPSHOT_INTERVAL_MS: '5000', LOG_LEVEL: 'warn' }
const dataDir = mkdtempSync(join(tmpdir(), 'ridepulse-soak-'))
const p = new LocalPipeline({ brokers: kafka.brokers, pipeline: `soak-${Date.now().toString(36)}`, shards, ordersPartitions: shards, opaInstances: 1, dataDir, httpBase: 28_000, env, opbEnv: () => ({ FAULT: 'during-commit:signal' }) })
try {
  let max: number | null = null
  let rate = Number(args.rate ?? NaN)
  if (!Number.isFinite(rate)) {
    const d = await drainRate({ kafka: { brokers: kafka.brokers }, shards, backlog: 200_000, seconds: 0, levels: [], windowMs: WINDOW, httpBase: 28_300 }, 'soak-max')
    max = d.rate
    rate = Math.round(max / 2)
    say(`maximum ${max} events/s; offering ${rate}`)
  }
  await p.startAll()
  const probe = new OutputLatency(settings, p.topics.TOPIC_OUTPUT, shards, WINDOW).start()
  const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: shards, ratePerSec: rate, zones: 48, seed: 8, malformedFraction: 0.005, maxDisorderMs: 300, onSent: (b, at) => probe.produced(b, at) })
  const t0 = Date.now()
  const atS = () => Math.round((Date.now() - t0) / 100) / 10
  const run: SoakRun = {
    id: startedAt.toISOString().replace(/[:.]/g, '-'), kind: 'soak', startedAt: startedAt.toISOString(), finishedAt: '', commit: currentCommit(repoRoot), host: describeHost(),
    shards, rate, max, sampleSeconds: SAMPLE_S, memory: [], latency: [], kills: [], verdict: { lost: 0, duplicated: 0, windows: 0, sent: 0 },
  }
  const end = t0 + minutes * 60_000
  // Memory every few seconds and latency every minute, beside the kills.
  const sampler = (async () => {
    let minute = 0
    let nextMinuteAt = t0 + 60_000
    while (Date.now() < end) {
      const rss: Record<string, number> = {}
      for (const w of [...p.opa.values(), ...p.opb.values()]) {
        const mb = rssMB(w.child.exitCode === null ? w.child.pid : undefined)
        if (mb !== undefined) rss[w.name] = mb
      }
      run.memory.push({ atS: atS(), rssMB: rss })
      if (Date.now() >= nextMinuteAt) {
        const s = summarize(probe.tracker.take())
        run.latency.push({ minute: ++minute, n: s.n, p50: s.p50, p99: s.p99, max: s.max })
        say(`minute ${minute}: ${s.n} events, latency p50 ${s.p50} ms, p99 ${s.p99} ms; memory ${Object.entries(rss).map(([k, v]) => `${k} ${v} MB`).join(', ')}`)
        nextMinuteAt += 60_000
      }
      await sleep(Math.max(0, Math.min(SAMPLE_S * 1000, end - Date.now())))
    }
    // What the last (possibly short) minute saw.
    const rest = summarize(probe.tracker.take())
    if (rest.n > 0) run.latency.push({ minute: minute + 1, n: rest.n, p50: rest.p50, p99: rest.p99, max: rest.max })
  })()
  const rng = createRng(21)
  const lagLimit = Math.max(50, Math.ceil((rate / shards) * 0.2))
  for (let k = 0; Date.now() + killEveryS * 1000 < end; k++) {
    await sleep(Math.max(0, t0 + (k + 1) * killEveryS * 1000 - Date.now()))
    const kind: KillKind = k % 2 === 0 ? 'outside' : 'in-transaction'
    const at = atS()
    const r = await killAndRecover(p, rng.int(shards), kind, lagLimit)
    run.kills.push({ atS: at, shard: r.shard, kind, firstCommitMs: r.firstCommit, caughtUpMs: r.caughtUp })
    say(`kill ${k + 1} (shard ${r.shard}, ${kind}): first commit ${r.firstCommit} ms, caught up ${r.caughtUp} ms after the death`)
  }
  await sampler
  const sent = await load.stop()
  await sleep(2000)
  await probe.stop()
  const v = await awaitVerdict(settings, p.opts.pipeline, { orders: shards, shards }, eventTimeRule(env), 600_000)
  run.verdict = { lost: v.lost, duplicated: v.duplicated, windows: v.windows, sent: sent.sent }
  run.finishedAt = new Date().toISOString()
  say(`verifier: lost ${v.lost}, duplicated ${v.duplicated} over ${v.windows} windows; results in ${saveResultsFile(repoRoot, run)}`)
  if (!v.ok) process.exitCode = 1
} finally {
  await p.stopAll()
  kafka.stop()
  rmSync(dataDir, { recursive: true, force: true })
}
