import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { awaitVerdict, createRng, LocalPipeline, startLoad, waitReady, type WorkerProcess } from '@ridepulse/testkit'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Experiment, Figure } from '../results.js'
import { drainRate, type DrainResult } from './steady.js'
import { medianBy } from '../stats.js'
import { eventTimeRule } from '@ridepulse/contracts'

const WINDOW = 4000
const SHARDS = 2
const POINTS = ['before-commit', 'during-commit', 'after-commit'] as const

export interface EosOptions {
  brokers: string
  /** Crashes of OpA and of OpB per point of the commit. */
  trials: number
  rate: number
  /** Events in the backlog drained with and without transactions. */
  backlog: number
  /** Drains of each kind, alternated. */
  drains: number
  httpBase: number
}

interface Trial {
  lost: number
  duplicated: number
  exact: boolean
}

/**
 * One pipeline under load in which OpA and OpB shard 0 each kill themselves
 * (SIGKILL) at one point of a given commit, and are restarted at once
 * without the fault, as a supervisor would; then the verifier.
 */
async function crashTrial(o: EosOptions, name: string, faults: { opa: string; opb: string }, env: Record<string, string>, port: number): Promise<Trial> {
  const p = new LocalPipeline({
    brokers: o.brokers,
    pipeline: `${name}-${Date.now().toString(36)}`,
    shards: SHARDS,
    ordersPartitions: SHARDS,
    opaInstances: 1,
    dataDir: mkdtempSync(join(tmpdir(), 'ridepulse-eos-')),
    httpBase: port,
    env: { WINDOW_SIZE_MS: String(WINDOW), ALLOWED_LATENESS_MS: '500', OUT_OF_ORDERNESS_MS: '500', IDLE_TIMEOUT_MS: '1500', SNAPSHOT_INTERVAL_MS: '1000', LOG_LEVEL: 'warn', ...env },
  })
  const settings = { brokers: [o.brokers], clientId: `bench-${name}` }
  try {
    const opa = p.startOpa(0, { FAULT: faults.opa })
    const opb = p.startOpb(0, { FAULT: faults.opb })
    p.startOpb(1)
    await Promise.all([...p.opa.values(), ...p.opb.values()].map((w) => waitReady(w)))
    const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: SHARDS, ratePerSec: o.rate, zones: 24, seed: 7, malformedFraction: 0.01, maxDisorderMs: 300 })
    const restartOnDeath = async (w: WorkerProcess, restart: () => WorkerProcess) => {
      const gone = await Promise.race([w.exited.then(() => true), sleep(60_000).then(() => false)])
      if (!gone || w.child.signalCode !== 'SIGKILL') throw new Error(`${w.name} did not crash at its fault point (see ${w.logFile})`)
      await waitReady(restart())
    }
    await Promise.all([restartOnDeath(opa, () => p.startOpa(0)), restartOnDeath(opb, () => p.startOpb(0))])
    await sleep(1500)
    await load.stop()
    const v = await awaitVerdict(settings, p.opts.pipeline, { orders: SHARDS, shards: SHARDS }, eventTimeRule(p.opts.env ?? {}), 60_000)
    return { lost: v.lost, duplicated: v.duplicated, exact: v.ok }
  } finally {
    await p.stopAll()
    rmSync(p.opts.dataDir, { recursive: true, force: true })
  }
}

/**
 * Design test 3: crashes before, during and after the commit, for OpA and
 * OpB, each run verified against the raw input; the same crash without
 * transactions, to show what the verifier catches when exactly-once is off;
 * and the throughput the transactions cost, as the same backlog drained with
 * and without them.
 */
export async function exactlyOnce(o: EosOptions): Promise<Experiment> {
  const rng = createRng(17)
  const figures: Figure[] = []
  let port = o.httpBase
  for (const point of POINTS) {
    const trials: Trial[] = []
    for (let i = 0; i < o.trials; i++) {
      // Commits run every 100 ms: crash between the 5th and the 40th.
      const faults = { opa: `${point}:${5 + rng.int(36)}`, opb: `${point}:${5 + rng.int(36)}` }
      trials.push(await crashTrial(o, `eos-${point}`, faults, {}, (port += 10)))
    }
    figures.push({
      key: `eos.${point}`,
      label: `crashes ${point.replace('-', ' the ')}: lost + duplicated`,
      unit: 'windows',
      value: trials.reduce((s, t) => s + t.lost + t.duplicated, 0),
      params: { crashes: trials.length * 2, lost: trials.reduce((s, t) => s + t.lost, 0), duplicated: trials.reduce((s, t) => s + t.duplicated, 0), exact: trials.every((t) => t.exact) },
    })
  }
  // The control: OpA without transactions, killed after sending a batch and
  // before its positions are committed, sends that batch again.
  const control = await crashTrial(o, 'eos-alo', { opa: 'during-commit:10', opb: 'after-commit:10' }, { DELIVERY: 'at-least-once' }, (port += 10))
  figures.push({ key: 'eos.control', label: 'the same crash without transactions: lost + duplicated', unit: 'windows', value: control.lost + control.duplicated, params: { crashes: 2, lost: control.lost, duplicated: control.duplicated, exact: control.exact } })

  // Alternated, so a slow spell of the shared machine hits both alike; the median of each.
  const drain = { kafka: { brokers: o.brokers }, shards: SHARDS, backlog: o.backlog, seconds: 0, levels: [], windowMs: WINDOW }
  const eo: DrainResult[] = []
  const alo: DrainResult[] = []
  for (let i = 0; i < o.drains; i++) {
    eo.push(await drainRate({ ...drain, httpBase: (port += 20) }, 'eos-drain'))
    alo.push(await drainRate({ ...drain, httpBase: (port += 20) }, 'alo-drain', { DELIVERY: 'at-least-once' }))
  }
  const [e, a] = [medianBy(eo, (x) => x.rate), medianBy(alo, (x) => x.rate)]
  const rates = (xs: DrainResult[]) => xs.map((x) => x.rate).join(' ')
  // Each exactly-once drain against the drain without transactions right after it.
  const ratios = eo.map((x, i) => (x.rate / alo[i]!.rate) * 100)
  const round1 = (x: number) => Math.round(x * 10) / 10
  figures.push({ key: 'eos.throughput.exactly-once', label: 'backlog drained, exactly-once (median)', unit: 'events/s', value: e.rate, params: { events: e.events, runs: rates(eo), exact: eo.every((x) => x.exact) } })
  figures.push({ key: 'eos.throughput.at-least-once', label: 'backlog drained, transactions off (median)', unit: 'events/s', value: a.rate, params: { events: a.events, runs: rates(alo), exact: alo.every((x) => x.exact) } })
  figures.push({
    key: 'eos.throughput.ratio',
    label: 'exactly-once throughput / throughput with transactions off (median of the pairs)',
    unit: '%',
    value: round1(medianBy(ratios, (r) => r)),
    params: { pairs: ratios.length, min: round1(Math.min(...ratios)), max: round1(Math.max(...ratios)) },
  })
  return {
    title: 'Exactly-once: crashes at the commit, and what transactions cost',
    method:
      `OpA ×1 and OpB ×${SHARDS} under ${o.rate} events/s, ${WINDOW / 1000}-second windows, commit interval 100 ms. In each run OpA and OpB shard 0 kill themselves (SIGKILL, a fault-injection setting) ` +
      `before, during (records sent in the open transaction) or after a commit (committed in Kafka, local store not yet written), at a random commit between the 5th and the 40th, and are restarted at once; ` +
      `${o.trials} run${o.trials === 1 ? '' : 's'} per point, each verified window by window against the raw input. The control runs the same pipeline with transactions off (DELIVERY=at-least-once) and OpA killed between sending a batch and committing its positions. ` +
      `Last, a backlog of ${o.backlog.toLocaleString('en')} events is drained through a fresh pipeline with and without transactions, ${o.drains} time${o.drains === 1 ? '' : 's'} each, alternated; the median of each is reported, and the cost as the median over the pairs of each exactly-once drain against the drain without transactions right after it.`,
    figures,
  }
}
