import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { eventTimeRule } from '@ridepulse/contracts'
import { awaitVerdict, getJson, LocalPipeline, startLoad, waitReady, type WorkerEnv } from '@ridepulse/testkit'
import type { Experiment, Figure } from '../results.js'
import { summarize } from '../stats.js'
import { buildShardHistory } from '../worker/history.js'

export interface SnapshotOptions {
  brokers: string
  /** Live keys of the shard's state, one size after the other. */
  sizes: number[]
  /** Events/s offered while the snapshots are taken. */
  rate: number
  /** Seconds of load per size. */
  seconds: number
  snapshotIntervalMs: number
  httpBase: number
  say?: (line: string) => void
}

interface SnapshotLine {
  msg?: string
  kind?: string
  ms?: number
  sizeBytes?: number
}

/** The snapshots a worker logged (`snapshot taken`, at info level): kind, duration and size of each. */
export function snapshotsLogged(log: string): { kind: string; ms: number; sizeBytes: number }[] {
  const out: { kind: string; ms: number; sizeBytes: number }[] = []
  for (const line of log.split('\n')) {
    if (!line.includes('"snapshot taken"')) continue
    try {
      const j = JSON.parse(line) as SnapshotLine
      if (j.msg === 'snapshot taken' && typeof j.ms === 'number' && typeof j.kind === 'string') out.push({ kind: j.kind, ms: j.ms, sizeBytes: j.sizeBytes ?? 0 })
    } catch {
      // a line cut short by the process's end
    }
  }
  return out
}

/** One size: the shard on its history under load, its commits watched and its snapshots read from its log. */
async function atSize(o: SnapshotOptions, keys: number): Promise<Figure[]> {
  const settings = { brokers: [o.brokers], clientId: 'bench-snapshots' }
  const pipeline = `snapshots-${keys}-${Date.now().toString(36)}`
  const dataDir = mkdtempSync(join(tmpdir(), 'ridepulse-bench-snapshots-'))
  const env: WorkerEnv = {
    WINDOW_SIZE_MS: '4000', ALLOWED_LATENESS_MS: '500', OUT_OF_ORDERNESS_MS: '500', IDLE_TIMEOUT_MS: '1500',
    SNAPSHOT_INTERVAL_MS: String(o.snapshotIntervalMs), RETENTION_MS: String(10 * 365 * 86_400_000), LOG_LEVEL: 'warn',
  }
  const p = new LocalPipeline({ brokers: o.brokers, pipeline, shards: 1, ordersPartitions: 1, opaInstances: 1, dataDir, httpBase: o.httpBase, env })
  try {
    await buildShardHistory(settings, pipeline, join(dataDir, 'opb-0'), keys, 5000, true)
    p.startOpa(0)
    const w = p.startOpb(0, { LOG_LEVEL: 'info' })
    await Promise.all([waitReady(p.opa.get(0)!, 600_000), waitReady(w, 600_000)])
    const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: 1, ratePerSec: o.rate, zones: 24, seed: 5, malformedFraction: 0, maxDisorderMs: 300 })
    // The gaps between commits, seen by polling the shard's count of them.
    const gaps: number[] = []
    try {
      await sleep(2000)
      let last = (await getJson<{ commits: number }>(w.port, '/status')).commits
      let lastAt = Date.now()
      for (const end = Date.now() + o.seconds * 1000; Date.now() < end; await sleep(10)) {
        const { commits } = await getJson<{ commits: number }>(w.port, '/status')
        if (commits !== last) {
          const now = Date.now()
          gaps.push(now - lastAt)
          last = commits
          lastAt = now
        }
      }
    } finally {
      await load.stop()
    }
    await sleep(1500)
    const verdict = await awaitVerdict(settings, pipeline, { orders: 1, shards: 1 }, eventTimeRule(env), 120_000)
    await p.stopAll()
    const snaps = snapshotsLogged(readFileSync(w.logFile, 'utf8'))
    o.say?.(`snapshots at ${keys} keys: ${snaps.length} taken, the longest ${Math.max(0, ...snaps.map((s) => s.ms))} ms; largest gap between commits ${Math.max(0, ...gaps)} ms`)
    const figures: Figure[] = []
    for (const kind of ['full', 'partial']) {
      const of = snaps.filter((s) => s.kind === kind)
      if (of.length) figures.push({ key: `snapshots.${kind}.${keys}`, label: `${keys.toLocaleString('en')} keys: ${kind} snapshot duration`, unit: 'ms', summary: summarize(of.map((s) => s.ms)), params: { keys, kind, sizeMB: Math.round(Math.max(...of.map((s) => s.sizeBytes)) / 1e4) / 100 } })
    }
    figures.push(
      { key: `snapshots.all.${keys}`, label: `${keys.toLocaleString('en')} keys: any snapshot's duration`, unit: 'ms', summary: summarize(snaps.map((s) => s.ms)), params: { keys, snapshots: snaps.length } },
      { key: `snapshots.gap.${keys}`, label: `${keys.toLocaleString('en')} keys: gap between two commits (the largest is the stall)`, unit: 'ms', summary: summarize(gaps), params: { keys, rate: o.rate, exact: verdict.ok, lost: verdict.lost, duplicated: verdict.duplicated } },
    )
    return figures
  } finally {
    await p.stopAll()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/**
 * Snapshots of a large state under load: per size, one shard on a history
 * of that many live windows (its changelog and a snapshot on its volume),
 * under `rate` events/s for `seconds`, taking a snapshot every
 * `snapshotIntervalMs` (partial ones, a full one every tenth, the
 * default). Each snapshot's duration from the shard's log, and the gaps
 * between its commits from polling its count of them every 10 ms: the
 * largest gap is the stall a snapshot causes.
 */
export async function snapshotsUnderLoad(o: SnapshotOptions): Promise<Experiment> {
  const figures: Figure[] = []
  for (const keys of o.sizes) figures.push(...(await atSize(o, keys)))
  return {
    title: 'Snapshots of a large state, under load',
    method:
      `At ${o.sizes.map((k) => k.toLocaleString('en')).join(' and ')} live keys: OpA and one OpB shard on a history of that many windows, under ${o.rate.toLocaleString('en')} events/s for ${o.seconds} s, a snapshot every ${o.snapshotIntervalMs / 1000} s (partial, holding the windows changed since the one before, and a full one every tenth). ` +
      'Each snapshot\'s duration is the one the shard logs (`snapshot taken`); the gaps between its commits come from polling its count of them every 10 ms (so ±10 ms), and the largest is the stall. The commit interval is 100 ms. Then the verifier.',
    figures,
  }
}
