import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { awaitVerdict, createTraffic, LocalPipeline, OutputLatency, startLoad, topicsFor, type WorkerEnv } from '@ridepulse/testkit'
import { eventTimeRule, hash32 } from '@ridepulse/contracts'
import { setTimeout as sleep } from 'node:timers/promises'
import { ensureTopics, PlainProducer } from '@ridepulse/kafka'
import { pipelineTopics } from '@ridepulse/worker'
import type { Experiment, Figure } from '../results.js'
import { summarize } from '../stats.js'

const env = (windowMs: number): WorkerEnv => ({ WINDOW_SIZE_MS: String(windowMs), ALLOWED_LATENESS_MS: '2000', OUT_OF_ORDERNESS_MS: '1000', IDLE_TIMEOUT_MS: '3000', COMMIT_INTERVAL_MS: '100', SNAPSHOT_INTERVAL_MS: '5000', LOG_LEVEL: 'warn' })

export interface SteadyOptions {
  kafka: { brokers: string }
  shards: number
  /** Events in the backlog that measures the maximum rate. */
  backlog: number
  /** Seconds of load at each level. */
  seconds: number
  levels: number[]
  httpBase: number
  /** Tumbling window size: shorter windows close (and verify) sooner. */
  windowMs: number
}

let pipelines = 0
function freshPipeline(o: SteadyOptions, name: string, extraEnv: Record<string, string> = {}): LocalPipeline {
  return new LocalPipeline({
    brokers: o.kafka.brokers,
    pipeline: `${name}-${Date.now().toString(36)}`,
    shards: o.shards,
    ordersPartitions: o.shards,
    opaInstances: 1,
    dataDir: mkdtempSync(join(tmpdir(), 'ridepulse-steady-')),
    httpBase: o.httpBase + 20 * pipelines++,
    env: { ...env(o.windowMs), ...extraEnv },
  })
}

async function statusOf(port: number): Promise<{ inputOffset: number }> {
  return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { inputOffset: number }
}

export interface DrainResult {
  rate: number
  events: number
  exact: boolean
  lost: number
  duplicated: number
  /** The pipeline's processes (a CPU profile is named after its pid). */
  processes: { name: string; pid: number }[]
}

/**
 * The maximum rate: a backlog of generated traffic (the same for a given
 * size) drained through OpA and OpB, timed from every worker serving to the
 * last valid event counted, then verified.
 */
export async function drainRate(o: SteadyOptions, name: string, extraEnv: Record<string, string> = {}): Promise<DrainResult> {
  const settings = { brokers: [o.kafka.brokers], clientId: `bench-${name}` }
  const drain = freshPipeline(o, name, extraEnv)
  const t = topicsFor(drain.opts.pipeline)
  await ensureTopics(settings, pipelineTopics({ ...t, ORDERS_PARTITIONS: o.shards, SHARDS: o.shards }))
  const now = Date.now()
  const backlog = createTraffic({ seed: 3, zones: 50, ratePerSec: o.backlog / 120, malformedFraction: 0.005, maxDisorderMs: 500, startMs: now - 120_000 }).next(now)
  const producer = new PlainProducer(settings)
  for (let i = 0; i < backlog.length; i += 5000) {
    await producer.send(backlog.slice(i, i + 5000).map((r) => ({ topic: t.TOPIC_ORDERS, partition: hash32(r.key) % o.shards, key: r.key, value: Buffer.from(r.value) })))
  }
  await producer.close()
  const valid = backlog.filter((r) => r.valid).length
  try {
    await drain.startAll()
    const t0 = Date.now()
    for (;;) {
      const st = await Promise.all([...drain.opb.values()].map((w) => statusOf(w.port)))
      if (st.reduce((s, x) => s + x.inputOffset, 0) >= valid) break
      await sleep(50)
    }
    const rate = Math.round(backlog.length / ((Date.now() - t0) / 1000))
    const v = await awaitVerdict(settings, drain.opts.pipeline, { orders: o.shards, shards: o.shards }, eventTimeRule(drain.opts.env ?? {}), 120_000)
    const processes = [...drain.opa.values(), ...drain.opb.values()].map((w) => ({ name: w.name, pid: w.child.pid ?? 0 }))
    return { rate, events: backlog.length, exact: v.ok, lost: v.lost, duplicated: v.duplicated, processes }
  } finally {
    await drain.stopAll()
    rmSync(drain.opts.dataDir, { recursive: true, force: true })
  }
}

/** Design test 5: the maximum rate, then end-to-end latency at fractions of it. */
export async function steadyState(o: SteadyOptions): Promise<Experiment> {
  const settings = { brokers: [o.kafka.brokers], clientId: 'bench-steady' }
  const figures: Figure[] = []

  const drained = await drainRate(o, 'drain')
  const maxRate = drained.rate
  figures.push({ key: 'steady.max', label: 'maximum sustained rate (backlog drained, exactly-once)', unit: 'events/s', value: maxRate, params: { events: drained.events, exact: drained.exact, lost: drained.lost, duplicated: drained.duplicated } })

  for (const level of o.levels) {
    const rate = Math.max(50, Math.round(maxRate * level))
    const p = freshPipeline(o, `steady${Math.round(level * 100)}`)
    await p.startAll()
    const probe = new OutputLatency(settings, p.topics.TOPIC_OUTPUT, o.shards, o.windowMs).start()
    const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: o.shards, ratePerSec: rate, zones: 50, seed: 5, malformedFraction: 0.005, maxDisorderMs: 500, onSent: (b, at) => probe.produced(b, at) })
    const began = Date.now()
    await sleep(o.seconds * 1000)
    const sent = await load.stop()
    const elapsed = (Date.now() - began) / 1000
    await sleep(2000) // the last commits
    await probe.stop()
    const verdict = await awaitVerdict(settings, p.opts.pipeline, { orders: o.shards, shards: o.shards }, eventTimeRule(p.opts.env ?? {}), 120_000)
    await p.stopAll()
    rmSync(p.opts.dataDir, { recursive: true, force: true })
    figures.push({
      key: `steady.latency.${Math.round(level * 100)}`,
      label: `end-to-end latency at ${Math.round(level * 100)}% (${rate} events/s offered)`,
      unit: 'ms',
      summary: summarize(probe.samples),
      params: { level, offered: rate, sent: sent.sent, achieved: Math.round(probe.counted / elapsed), exact: verdict.ok, lost: verdict.lost, duplicated: verdict.duplicated },
    })
  }
  return {
    title: 'Steady state: throughput and end-to-end latency',
    method:
      `OpA ×1 and OpB ×${o.shards}, commit interval 100 ms, exactly-once. The maximum is a backlog of ${o.backlog.toLocaleString('en')} events drained from the moment every worker serves. ` +
      `Then, on fresh pipelines, ${o.seconds} s of generated traffic at each fraction of it; latency runs from the event handed to the producer to its count being visible to a read_committed reader of orders.output (every event, from an HDR histogram). Each run ends with the verifier.`,
    figures,
  }
}
