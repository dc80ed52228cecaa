#!/usr/bin/env node
/**
 * Exactly-once throughput and end-to-end latency of the whole pipeline on the
 * real broker:
 *
 *   npm run bench:throughput [-- --events 200000 --rate 2000 --seconds 30 --shards 2 --profile --top 15]
 *
 * 1. Drain: `events` raw events are written to `orders` first, then OpA and
 *    the OpB shards start, and the time from every worker serving until
 *    every shard has counted the last of them gives the sustained
 *    throughput (the same measure as the benchmark's steady experiment).
 *    With --profile every worker runs under `node --cpu-prof` and its time
 *    is summed up by area and by function (bench/src/profile.ts).
 * 2. Steady: a fresh pipeline under a constant `rate` for `seconds`; the
 *    latency from a raw event's record timestamp on `orders` to the commit of
 *    the OpB transaction that counted it, read from the shards' histograms
 *    (bucket resolution: see metrics.ts).
 * Both runs end with the verifier.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { eventTimeRule } from '@ridepulse/contracts'
import { setTimeout as sleep } from 'node:timers/promises'
import { drainRate } from '../experiments/steady.js'
import { formatProfile, summarizeProfile, type CpuProfile } from '../profile.js'
import { awaitVerdict, LocalPipeline, runTeardown, startLoad, startLocalKafka, stopOnSignals, type WorkerEnv } from '@ridepulse/testkit'

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '30' },
    shards: { type: 'string', default: '2' },
    port: { type: 'string', default: '29392' },
    profile: { type: 'boolean', default: false },
    top: { type: 'string', default: '15' },
  },
})
const shards = Number(args.shards)
const WINDOW = 60_000
const env: WorkerEnv = { WINDOW_SIZE_MS: String(WINDOW), ALLOWED_LATENESS_MS: '2000', OUT_OF_ORDERNESS_MS: '1000', IDLE_TIMEOUT_MS: '3000', COMMIT_INTERVAL_MS: '100', SNAPSHOT_INTERVAL_MS: '5000', LOG_LEVEL: 'warn' }
const out = (s: string) => process.stdout.write(`${s}\n`)

stopOnSignals()
const kafka = startLocalKafka(Number(args.port))
const settings = { brokers: [kafka.brokers], clientId: 'bench-throughput' }
let n = 0
const pipelineFor = (name: string) =>
  new LocalPipeline({ brokers: kafka.brokers, pipeline: `${name}-${Date.now().toString(36)}`, shards, ordersPartitions: shards, opaInstances: 1, dataDir: mkdtempSync(join(tmpdir(), 'ridepulse-tput-')), httpBase: 26000 + 500 * n++, env })

async function metric(port: number, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const m = new Map<string, number>()
  for (const line of text.split('\n')) if (line.startsWith(name)) m.set(line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)))
  return m
}

/** Percentile from cumulative Prometheus buckets, interpolated linearly inside the bucket. */
function quantile(buckets: { le: number; count: number }[], q: number): number {
  const total = buckets.at(-1)!.count
  const rank = q * total
  let prevLe = 0
  let prevCount = 0
  for (const b of buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe
      return Math.round(prevLe + ((rank - prevCount) / Math.max(1, b.count - prevCount)) * (b.le - prevLe))
    }
    prevLe = b.le
    prevCount = b.count
  }
  return prevLe
}

async function latencyBuckets(p: LocalPipeline): Promise<{ le: number; count: number }[]> {
  const sum = new Map<number, number>()
  for (const w of p.opb.values()) {
    for (const [k, v] of await metric(w.port, 'ridepulse_end_to_end_latency_ms_bucket')) {
      const le = k.match(/le="([^"]+)"/)![1]!
      const key = le === '+Inf' ? Infinity : Number(le)
      sum.set(key, (sum.get(key) ?? 0) + v)
    }
  }
  return [...sum].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }))
}

async function statusOf(port: number): Promise<{ inputOffset: number; lag: number }> {
  return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { inputOffset: number; lag: number }
}

try {
  // 1. Drain a backlog.
  const events = Number(args.events)
  const profileDir = args.profile ? mkdtempSync(join(tmpdir(), 'ridepulse-profile-')) : undefined
  const drained = await drainRate(
    { kafka: { brokers: kafka.brokers }, shards, backlog: events, seconds: 0, levels: [], httpBase: 26_000 + 500 * n++, windowMs: WINDOW },
    'drain',
    profileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } : {},
  )
  out(`# pipeline throughput and latency (OpA ×1, OpB ×${shards}, commit interval 100 ms, one broker on loopback)`)
  out(`drain: ${drained.events} raw events through OpA and OpB, timed from every worker serving to the last valid event counted = ${drained.rate} events/s; verifier ${drained.exact ? 'exact' : 'MISMATCH'} (lost ${drained.lost}, duplicated ${drained.duplicated})`)
  if (profileDir) {
    for (const p of drained.processes) {
      const file = readdirSync(profileDir).find((f) => f.includes(`.${p.pid}.`) && f.endsWith('.cpuprofile'))
      if (!file) {
        out(`no CPU profile of ${p.name} (pid ${p.pid}) in ${profileDir}`)
        continue
      }
      const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile
      out('')
      out(formatProfile(`${p.name} (whole life: start-up, drain, stop)`, summarizeProfile(profile, Number(args.top))))
    }
    out('')
    out(`CPU profiles in ${profileDir} (open in Chrome DevTools or speedscope)`)
  }

  // 2. Steady rate.
  const steady = pipelineFor('steady')
  await steady.startAll()
  const load = startLoad({ settings, topic: steady.topics.TOPIC_ORDERS, partitions: shards, ratePerSec: Number(args.rate), zones: 50, seed: 5, malformedFraction: 0.005, maxDisorderMs: 500 })
  await sleep(Number(args.seconds) * 1000)
  const sent = await load.stop()
  await sleep(1000)
  const buckets = await latencyBuckets(steady)
  const counted = buckets.at(-1)?.count ?? 0
  const st = await Promise.all([...steady.opb.values()].map((w) => statusOf(w.port)))
  const verdict = await awaitVerdict(settings, steady.opts.pipeline, { orders: shards, shards }, eventTimeRule(env), 120_000)
  await steady.stopAll()
  out(
    `steady: ${Number(args.rate)} events/s offered for ${args.seconds} s, ${sent.sent} sent, ${counted} counted by OpB (lag at the end ${st.reduce((s, x) => s + x.lag, 0)}); ` +
      `end-to-end latency p50 ${quantile(buckets, 0.5)} ms, p95 ${quantile(buckets, 0.95)} ms, p99 ${quantile(buckets, 0.99)} ms; verifier ${verdict.ok ? 'exact' : 'MISMATCH'} (lost ${verdict.lost}, duplicated ${verdict.duplicated})`,
  )
} finally {
  await runTeardown()
}
