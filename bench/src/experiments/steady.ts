import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { awaitVerdict, createTraffic, LocalPipeline, OutputLatency, startLoad, topicsFor, type WorkerEnv } from '@ridepulse/testkit'
import { eventTimeRule, hash32 } from '@ridepulse/contracts'
import { setTimeout as sleep } from 'node:timers/promises'
import { ensureTopics, PlainProducer, type KafkaSettings } from '@ridepulse/kafka'
import { pipelineTopics } from '@ridepulse/worker'
import type { Experiment, Figure } from '../results.js'
import { medianBy, summarize } from '../stats.js'
import { producerCeiling } from './ceiling.js'

/** The event-time rule of every steady pipeline: a window closes 3 s after its end (the cut-off a peer's grace must match). */
export const STEADY_LATENESS_MS = 2000
export const STEADY_OUT_OF_ORDERNESS_MS = 1000
const env = (windowMs: number): WorkerEnv => ({ WINDOW_SIZE_MS: String(windowMs), ALLOWED_LATENESS_MS: String(STEADY_LATENESS_MS), OUT_OF_ORDERNESS_MS: String(STEADY_OUT_OF_ORDERNESS_MS), IDLE_TIMEOUT_MS: '3000', COMMIT_INTERVAL_MS: '100', SNAPSHOT_INTERVAL_MS: '5000', LOG_LEVEL: 'warn' })

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
  /**
   * The broker's ceiling measured beside the maximum: `pairs` drains, each
   * followed by Kafka's producer tool writing `records` records of the
   * backlog's mean size, so the share is of the same broker at the same
   * moment. Without it, one drain.
   */
  ceiling?: { kafkaScript: string; pairs: number; records: number }
}

let pipelines = 0
export function freshPipeline(o: SteadyOptions, name: string, extraEnv: Record<string, string> = {}): LocalPipeline {
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
  /** Mean size of a raw event of the backlog, in bytes. */
  meanEventBytes: number
  /** The pipeline's processes (a CPU profile is named after its pid). */
  processes: { name: string; pid: number }[]
}

/**
 * The backlog a maximum is measured on: two minutes of generated city
 * traffic (the same for a given size), half a percent of it malformed, keyed
 * by ride into `partitions` partitions of `topic`.
 */
export async function writeBacklog(settings: KafkaSettings, topic: string, partitions: number, size: number): Promise<{ events: number; valid: number; meanEventBytes: number }> {
  const now = Date.now()
  const backlog = createTraffic({ seed: 3, zones: 50, ratePerSec: size / 120, malformedFraction: 0.005, maxDisorderMs: 500, startMs: now - 120_000 }).next(now)
  const producer = new PlainProducer(settings)
  try {
    for (let i = 0; i < backlog.length; i += 5000) {
      await producer.send(backlog.slice(i, i + 5000).map((r) => ({ topic, partition: hash32(r.key) % partitions, key: r.key, value: Buffer.from(r.value) })))
    }
  } finally {
    await producer.close()
  }
  const meanEventBytes = Math.round(backlog.reduce((n, r) => n + Buffer.byteLength(r.value), 0) / Math.max(1, backlog.length))
  return { events: backlog.length, valid: backlog.filter((r) => r.valid).length, meanEventBytes }
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
  const { events, valid, meanEventBytes } = await writeBacklog(settings, t.TOPIC_ORDERS, o.shards, o.backlog)
  try {
    await drain.startAll()
    const t0 = Date.now()
    for (;;) {
      const st = await Promise.all([...drain.opb.values()].map((w) => statusOf(w.port)))
      if (st.reduce((s, x) => s + x.inputOffset, 0) >= valid) break
      await sleep(50)
    }
    const rate = Math.round(events / ((Date.now() - t0) / 1000))
    const v = await awaitVerdict(settings, drain.opts.pipeline, { orders: o.shards, shards: o.shards }, eventTimeRule(drain.opts.env ?? {}), 120_000)
    const processes = [...drain.opa.values(), ...drain.opb.values()].map((w) => ({ name: w.name, pid: w.child.pid ?? 0 }))
    return { rate, events, exact: v.ok, lost: v.lost, duplicated: v.duplicated, meanEventBytes, processes }
  } finally {
    await drain.stopAll()
    rmSync(drain.opts.dataDir, { recursive: true, force: true })
  }
}

export interface LatencyRun {
  samples: number[]
  sent: number
  /** Events counted per second over the run. */
  achieved: number
  exact: boolean
  lost: number
  duplicated: number
}

/** A fresh pipeline under `rate` events/s of generated traffic for `o.seconds`: every event's end-to-end latency, then the verifier. */
export async function latencyAtRate(o: SteadyOptions, name: string, rate: number): Promise<LatencyRun> {
  const settings = { brokers: [o.kafka.brokers], clientId: `bench-${name}` }
  const p = freshPipeline(o, name)
  try {
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
    return { samples: probe.samples, sent: sent.sent, achieved: Math.round(probe.counted / elapsed), exact: verdict.ok, lost: verdict.lost, duplicated: verdict.duplicated }
  } finally {
    await p.stopAll()
    rmSync(p.opts.dataDir, { recursive: true, force: true })
  }
}

/** Design test 5: the maximum rate, then end-to-end latency at fractions of it. */
export async function steadyState(o: SteadyOptions): Promise<Experiment> {
  const figures: Figure[] = []

  const drains: DrainResult[] = []
  const ceilings: number[] = []
  for (let i = 0; i < (o.ceiling?.pairs ?? 1); i++) {
    const d = await drainRate(o, 'drain')
    drains.push(d)
    if (o.ceiling) ceilings.push(producerCeiling({ kafkaScript: o.ceiling.kafkaScript, brokers: o.kafka.brokers, records: o.ceiling.records, recordSize: d.meanEventBytes, partitions: o.shards }))
  }
  const drained = medianBy(drains, (d) => d.rate)
  const maxRate = drained.rate
  const lost = drains.reduce((n, d) => n + d.lost, 0)
  const duplicated = drains.reduce((n, d) => n + d.duplicated, 0)
  figures.push({
    key: 'steady.max',
    label: `maximum sustained rate (backlog drained, exactly-once${drains.length > 1 ? `, median of ${drains.length}` : ''})`,
    unit: 'events/s',
    value: maxRate,
    params: { events: drained.events, ...(drains.length > 1 ? { runs: drains.map((d) => d.rate).join(' ') } : {}), exact: drains.every((d) => d.exact), lost, duplicated },
  })
  if (o.ceiling) {
    const shares = drains.map((d, i) => (d.rate / ceilings[i]!) * 100)
    figures.push({ key: 'steady.ceiling', label: `broker's ceiling beside it: one idempotent acks=all producer (median of ${ceilings.length})`, unit: 'records/s', value: medianBy(ceilings, (c) => c), params: { records: o.ceiling.records, recordSize: drained.meanEventBytes, runs: ceilings.join(' ') } })
    figures.push({ key: 'steady.share', label: 'maximum / ceiling, each drain against the ceiling measured right after it (median)', unit: '%', value: Math.round(medianBy(shares, (x) => x) * 10) / 10, params: { pairs: shares.length, min: Math.round(Math.min(...shares) * 10) / 10, max: Math.round(Math.max(...shares) * 10) / 10 } })
  }

  for (const level of o.levels) {
    const rate = Math.max(50, Math.round(maxRate * level))
    const run = await latencyAtRate(o, `steady${Math.round(level * 100)}`, rate)
    figures.push({
      key: `steady.latency.${Math.round(level * 100)}`,
      label: `end-to-end latency at ${Math.round(level * 100)}% (${rate} events/s offered)`,
      unit: 'ms',
      summary: summarize(run.samples),
      params: { level, offered: rate, sent: run.sent, achieved: run.achieved, exact: run.exact, lost: run.lost, duplicated: run.duplicated },
    })
  }
  return {
    title: 'Steady state: throughput and end-to-end latency',
    method:
      `OpA ×1 and OpB ×${o.shards}, commit interval 100 ms, exactly-once. The maximum is a backlog of ${o.backlog.toLocaleString('en')} events drained from the moment every worker serves` +
      (o.ceiling
        ? `, ${o.ceiling.pairs} times, each drain followed by Kafka's ProducerPerformance writing ${o.ceiling.records.toLocaleString('en')} records of the backlog's mean event size with one idempotent acks=all producer into ${o.shards} partitions of the same broker (the ceiling); the medians are reported, and the share is the median of each drain against the ceiling right after it. `
        : '. ') +
      `Then, on fresh pipelines, ${o.seconds} s of generated traffic at each fraction of it; latency runs from the event handed to the producer to its count being visible to a read_committed reader of orders.output (every event, from an HDR histogram). Each run ends with the verifier.`,
    figures,
  }
}
