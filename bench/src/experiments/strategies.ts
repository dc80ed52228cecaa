import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { awaitVerdict, firstCommitAfterRecovery, getJson, LocalPipeline, OutputLatency, startLoad, waitReady, type WorkerProcess, type WorkerEnv } from '@ridepulse/testkit'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Experiment, Figure } from '../results.js'
import { summarize } from '../stats.js'
import { eventTimeRule } from '@ridepulse/contracts'

const SHARDS = 3
const env = (windowMs: number, extra: WorkerEnv): WorkerEnv => ({ WINDOW_SIZE_MS: String(windowMs), ALLOWED_LATENESS_MS: '2000', OUT_OF_ORDERNESS_MS: '1000', IDLE_TIMEOUT_MS: '3000', COMMIT_INTERVAL_MS: '100', SNAPSHOT_INTERVAL_MS: '1000', LOG_LEVEL: 'warn', ...extra })

interface Common {
  brokers: string
  rate: number
  warmupSeconds: number
  kills: number
  httpBase: number
  windowMs: number
}

function pipeline(o: Common, name: string, extra: Record<string, string>, slot: number): LocalPipeline {
  return new LocalPipeline({
    brokers: o.brokers,
    pipeline: `${name}-${Date.now().toString(36)}`,
    shards: SHARDS,
    ordersPartitions: SHARDS,
    opaInstances: 1,
    dataDir: mkdtempSync(join(tmpdir(), `ridepulse-${name}-`)),
    httpBase: o.httpBase + slot * 200,
    env: env(o.windowMs, extra),
  })
}

async function metricLines(port: number, prefix: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return new Map(text.split('\n').filter((l) => l.startsWith(prefix)).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]))
}

const opaPosition = async (w: WorkerProcess) => Object.values((await getJson<{ partitions: Record<string, number> }>(w.port, '/status')).partitions).reduce((a, b) => a + b, 0)

async function caughtUp(w: WorkerProcess, rate: number): Promise<number> {
  for (;;) {
    const st = await getJson<{ lag: number; phase: string }>(w.port, '/status').catch(() => undefined)
    if (st?.phase === 'running' && st.lag <= Math.max(20, rate / 10)) return Date.now()
    await sleep(20)
  }
}

/** Design test 2: incremental snapshots + changelog, full snapshots + changelog, checkpoint-only; the same load and kills for each. */
export async function snapshotModes(o: Common): Promise<Experiment> {
  const figures: Figure[] = []
  const settings = { brokers: [o.brokers], clientId: 'bench-modes' }
  let slot = 0
  for (const mode of ['incremental', 'full', 'checkpoint'] as const) {
    const p = pipeline(o, `mode-${mode}`, { SNAPSHOT_MODE: mode }, slot++)
    try {
      await p.startAll()
      const probe = new OutputLatency(settings, p.topics.TOPIC_OUTPUT, SHARDS, o.windowMs).start()
      const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: SHARDS, ratePerSec: o.rate, zones: 200, seed: 9, malformedFraction: 0, maxDisorderMs: 500, onSent: (b, at) => probe.produced(b, at) })
      const began = Date.now()
      await sleep(o.warmupSeconds * 1000)
      const snapMetrics = await metricLines(p.opb.get(0)!.port, 'ridepulse_snapshot_')
      const ttr: number[] = []
      const records: number[] = []
      const bytes: number[] = []
      for (let k = 0; k < o.kills; k++) {
        await sleep(1500)
        await p.killOpb(0)
        const w = p.startOpb(0)
        await waitReady(w)
        ttr.push((await firstCommitAfterRecovery(w.port)) - w.startedAt)
        const r = (await getJson<{ lastRecovery: { replayedRecords: number; replayedBytes: number } }>(w.port, '/status')).lastRecovery
        records.push(r.replayedRecords)
        bytes.push(r.replayedBytes)
      }
      const sent = await load.stop()
      const elapsed = (Date.now() - began) / 1000
      await sleep(2000)
      await probe.stop()
      const verdict = await awaitVerdict(settings, p.opts.pipeline, { orders: SHARDS, shards: SHARDS }, eventTimeRule(p.opts.env ?? {}), 120_000)
      const sum = (name: string) => [...snapMetrics].filter(([k]) => k.startsWith(name)).reduce((a, [, v]) => a + v, 0)
      const snapCount = sum('ridepulse_snapshot_duration_ms_count')
      const snapMean = snapCount > 0 ? sum('ridepulse_snapshot_duration_ms_sum') / snapCount : 0
      const snapSize = Math.max(0, ...[...snapMetrics].filter(([k]) => k.startsWith('ridepulse_snapshot_size_bytes')).map(([, v]) => v))
      const params = { mode, exact: verdict.ok, lost: verdict.lost, duplicated: verdict.duplicated }
      figures.push(
        { key: `modes.ttr.${mode}`, label: `${mode}: spawn → first committed output`, unit: 'ms', summary: summarize(ttr), params },
        { key: `modes.latency.${mode}`, label: `${mode}: end-to-end latency`, unit: 'ms', summary: summarize(probe.samples), params },
        { key: `modes.replayed.${mode}`, label: `${mode}: records replayed per recovery (median)`, unit: 'records', value: Math.round(summarize(records).p50), params: { bytesMedian: Math.round(summarize(bytes).p50) } },
        { key: `modes.snapshot.${mode}`, label: `${mode}: snapshot duration (mean of ${snapCount})`, unit: 'ms', value: Math.round(snapMean * 10) / 10, params: { lastSizeBytes: snapSize } },
        { key: `modes.throughput.${mode}`, label: `${mode}: events counted per second`, unit: 'events/s', value: Math.round(probe.counted / elapsed), params: { offered: o.rate, sent: sent.sent } },
      )
    } finally {
      await p.stopAll()
      rmSync(p.opts.dataDir, { recursive: true, force: true })
    }
  }
  return {
    title: 'Changelog or not: the three snapshot modes',
    method:
      `OpA ×1 and OpB ×${SHARDS} under ${o.rate} events/s over 200 zones, a snapshot every second, ${o.warmupSeconds} s of warm-up, then ${o.kills} SIGKILLs of shard 0 (restarted at once) in each mode. ` +
      'Latency per event, produce → visible to a read_committed reader, across the whole run (kills included). Snapshot duration and size from the worker\'s metrics before the kills.',
    figures,
  }
}

/** Design test 4: the same OpB failure handled by restarting only that shard, or the whole pipeline. */
export async function localVsGlobal(o: Common): Promise<Experiment> {
  const figures: Figure[] = []
  const settings = { brokers: [o.brokers], clientId: 'bench-global' }
  let slot = 5
  for (const strategy of ['local', 'global'] as const) {
    const p = pipeline(o, `strategy-${strategy}`, {}, slot++)
    const ttr: number[] = []
    const opaRatio: number[] = []
    try {
      await p.startAll()
      const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: SHARDS, ratePerSec: o.rate, zones: 200, seed: 13, malformedFraction: 0, maxDisorderMs: 500 })
      await sleep(o.warmupSeconds * 1000)
      for (let k = 0; k < o.kills; k++) {
        await sleep(1500)
        const opa0 = await opaPosition(p.opa.get(0)!)
        await sleep(1000)
        const steady = (await opaPosition(p.opa.get(0)!)) - opa0
        const base = await opaPosition(p.opa.get(0)!)
        const failedAt = Date.now()
        await p.killOpb(0)
        let failed: WorkerProcess
        if (strategy === 'local') {
          failed = p.startOpb(0)
        } else {
          // Every task restarts from its state, as a whole-job restart does.
          for (let s = 1; s < SHARDS; s++) await p.killOpb(s)
          const opa = p.opa.get(0)!
          opa.child.kill('SIGKILL')
          await opa.exited
          for (let s = SHARDS - 1; s >= 1; s--) p.startOpb(s)
          p.startOpa(0)
          failed = p.startOpb(0)
        }
        await waitReady(failed)
        await firstCommitAfterRecovery(failed.port)
        ttr.push(Date.now() - failedAt)
        const upAt = await caughtUp(failed, o.rate)
        // OpA's records from the failure to caught up, against its rate before; a restarted OpA resumes from its committed position.
        const now = await opaPosition(p.opa.get(0)!).catch(() => base)
        if (steady > 0) opaRatio.push(((Math.max(0, now - base) / ((upAt - failedAt) / 1000)) / steady) * 1000)
      }
      await load.stop()
      const verdict = await awaitVerdict(settings, p.opts.pipeline, { orders: SHARDS, shards: SHARDS }, eventTimeRule(p.opts.env ?? {}), 120_000)
      const params = { strategy, exact: verdict.ok, lost: verdict.lost, duplicated: verdict.duplicated }
      figures.push(
        { key: `strategy.ttr.${strategy}`, label: `${strategy}: failure → failed shard's first committed output`, unit: 'ms', summary: summarize(ttr), params },
        { key: `strategy.opa.${strategy}`, label: `${strategy}: OpA rate until caught up / before (‰)`, unit: '‰', summary: summarize(opaRatio), params },
      )
    } finally {
      await p.stopAll()
      rmSync(p.opts.dataDir, { recursive: true, force: true })
    }
  }
  return {
    title: 'Local against global recovery',
    method:
      `OpA ×1 and OpB ×${SHARDS} under ${o.rate} events/s; ${o.kills} times shard 0 is killed with SIGKILL. Local: only that shard is restarted. ` +
      'Global: every OpA and OpB process is killed and restarted from its own state, as a job-wide restart would. Time runs from the kill; OpA\'s rate is taken from the kill until the shard has caught up.',
    figures,
  }
}
