import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { encodeEvent, RIDE_TYPES, type RideEvent, windowStart, zonePartition } from '@ridepulse/contracts'
import { createTraffic, killIfOrphaned, LocalPipeline, onTeardown, topicsFor, windowTotalKey, type Decode, type WorkerProcess, type WorkerEnv } from '@ridepulse/testkit'
import { setTimeout as sleep } from 'node:timers/promises'
import { ensureTopics, PlainProducer, type KafkaSettings, type OutgoingRecord } from '@ridepulse/kafka'
import { pipelineTopics } from '@ridepulse/worker'
import { failure, parsePeerLine, peerTotal, runningAt, type PeerLine } from '../kstreams-lines.js'

/**
 * OpB against an ordinary Kafka Streams application doing the same job
 * (bench/peers/kafka-streams), on the same broker, the same enriched input
 * and the same machine, one after the other, in one run: throughput on a
 * backlog, end-to-end latency at a fixed rate, and time to recover after
 * SIGKILL at several state sizes.
 */
export interface KStreamsOptions {
  root: string
  brokers: string
  /** Input partitions for throughput and latency: OpB shards, and Kafka Streams threads of its one JVM. */
  partitions: number
  /** Enriched events in the throughput backlog. */
  backlog: number
  /** Backlog drains per system, alternating which goes first; the median is reported. */
  rounds: number
  /** Offered rate of the latency runs, events/s. */
  rate: number
  latencySeconds: number
  /** Live window keys (zones × past minutes) at which recovery is measured. */
  keys: number[]
  /** States built per size and system; each one's first kill is a first crash. */
  builds: number
  /** SIGKILLs per build: the first, then again after each replacement has caught up. */
  kills: number
  /** Events/s flowing in while the recovery trials run. */
  liveRate: number
  /** OpB's snapshot interval in the recovery part (a full snapshot every tenth). */
  snapshotIntervalMs: number
  /** OpB shards listen on httpBase + 100 + shard. */
  httpBase: number
}

export const WINDOW_MS = 60_000
/** OpB's defaults: a window is final once the watermark (highest event time − 5 s) passes its end + 10 s. */
export const OPB_LATENESS_MS = 10_000
export const OPB_OUT_OF_ORDERNESS_MS = 5_000
/** Kafka Streams compares window end + grace with the highest event time itself: the same cut-off is 15 s. */
export const GRACE_MS = OPB_LATENESS_MS + OPB_OUT_OF_ORDERNESS_MS
/** Window retention of both: long enough to hold every key of the largest state (500 zones × 2,000 past minutes at 1M keys). */
export const RETENTION_MS = 7 * 86_400_000
export const KEY_ZONES = 500
export const OPB_ENV: WorkerEnv = {
  WINDOW_SIZE_MS: String(WINDOW_MS),
  ALLOWED_LATENESS_MS: String(OPB_LATENESS_MS),
  OUT_OF_ORDERNESS_MS: String(OPB_OUT_OF_ORDERNESS_MS),
  COMMIT_INTERVAL_MS: '100',
  RETENTION_MS: String(RETENTION_MS),
  LOG_LEVEL: 'warn',
}

export const say = (s: string) => process.stdout.write(`kstreams: ${s}\n`)

/** Round `r` of a comparison runs both sides, `a` first in even rounds and `b` first in odd ones. */
export async function bothInTurn(r: number, a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<void> {
  const [first, second] = r % 2 === 0 ? [a, b] : [b, a]
  await first()
  await second()
}
export const stamp = () => Date.now().toString(36)

// ---------------------------------------------------------------- input

/** A chunk of enriched records as OpA writes them: keyed by zone, on the zone's partition, stamped with the event time. */
export const toRecords = (topic: string, partitions: number, events: RideEvent[]): OutgoingRecord[] =>
  events.map((e) => ({ topic, partition: zonePartition(e.zone, partitions), key: e.zone, value: encodeEvent(e), timestamp: e.ts }))

/**
 * Writes chunks as they are made, so a million events never sit in memory at
 * once. One send at a time: the idempotent producer's sequence numbers break
 * with several batches of a partition in flight.
 */
export async function produceChunks(settings: KafkaSettings, chunks: Iterable<OutgoingRecord[]>): Promise<number> {
  const producer = new PlainProducer(settings)
  let sent = 0
  try {
    for (const chunk of chunks) {
      await producer.send(chunk)
      sent += chunk.length
    }
  } finally {
    await producer.close()
  }
  return sent
}

/** The generator's city traffic over the past two minutes, every record valid, as enriched events. */
export function* backlogChunks(topic: string, partitions: number, events: number): Generator<OutgoingRecord[]> {
  const now = Date.now()
  const spanMs = 120_000
  const traffic = createTraffic({ seed: 3, zones: 50, ratePerSec: (events * 1000) / spanMs, malformedFraction: 0, maxDisorderMs: 500, startMs: now - spanMs })
  // Stepping the clock a second at a time keeps each chunk small.
  for (let t = now - spanMs + 1000; t <= now; t += 1000) {
    const batch = traffic.next(t).flatMap((r) => (r.valid ? [{ ...r.event, ingestMs: t }] : []))
    for (let i = 0; i < batch.length; i += 5000) yield toRecords(topic, partitions, batch.slice(i, i + 5000))
  }
}

/**
 * The key space of the worker's recovery benchmark: key i is zone i mod 500
 * and the i div 500-th past minute, one event each, oldest minute first, so
 * n events leave n live window keys. All on one partition.
 */
export function* keyChunks(topic: string, keys: number): Generator<OutgoingRecord[]> {
  const now = Date.now()
  const base = Math.floor(now / WINDOW_MS) * WINDOW_MS - (Math.ceil(keys / KEY_ZONES) + 1) * WINDOW_MS
  for (let i = 0; i < keys; i += 5000) {
    const events: RideEvent[] = []
    for (let j = i; j < Math.min(keys, i + 5000); j++) {
      const ts = base + Math.floor(j / KEY_ZONES) * WINDOW_MS + (j % KEY_ZONES) * 100
      events.push({ eventId: `k${j}`, rideId: `k${j}`, zone: `zone-${j % KEY_ZONES}`, type: RIDE_TYPES[j % RIDE_TYPES.length]!, ts, ingestMs: now })
    }
    yield toRecords(topic, 1, events)
  }
}

/** Live traffic as enriched events at a fixed rate until stopped; `onBatch` hears of each batch just before it is sent. */
export function startEnrichedLoad(o: { settings: KafkaSettings; topic: string; partitions: number; rate: number; seed: number; onBatch?: (events: RideEvent[], atMs: number) => void }): { stop(): Promise<number> } {
  const producer = new PlainProducer(o.settings)
  const traffic = createTraffic({ seed: o.seed, zones: 24, ratePerSec: o.rate, malformedFraction: 0, maxDisorderMs: 500, startMs: Date.now() })
  let running = true
  let sent = 0
  const loop = (async () => {
    while (running) {
      const t0 = Date.now()
      const events = traffic.next(t0).flatMap((r) => (r.valid ? [{ ...r.event, ingestMs: t0 }] : []))
      o.onBatch?.(events, t0)
      await producer.send(toRecords(o.topic, o.partitions, events))
      sent += events.length
      const spent = Date.now() - t0
      if (spent < 50) await sleep(50 - spent)
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      await producer.close()
      return sent
    },
  }
}

// ---------------------------------------------------------------- output

export const decodeTheirs: Decode = (key, value) => {
  const total = peerTotal(value.toString('utf8'))
  return key && total !== undefined ? { key: key.toString('utf8'), total } : undefined
}

export const producedKeys = (events: RideEvent[]) => events.map((e) => windowTotalKey(e.zone, windowStart(e.ts, WINDOW_MS)))

// ---------------------------------------------------------------- the two systems

/** One JVM of the Kafka Streams peer; its stdout status lines parsed as they come. */
export class Peer {
  readonly lines: PeerLine[] = []
  readonly child: ChildProcess
  readonly startedAt: number
  readonly exited: Promise<number | null>
  readonly #log: WriteStream

  constructor(command: string[], env: Record<string, string>, logFile: string) {
    this.#log = createWriteStream(logFile, { flags: 'a' })
    this.child = spawn(command[0]!, command.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    this.startedAt = Date.now()
    killIfOrphaned(this.child)
    this.child.stderr!.pipe(this.#log, { end: false })
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.#log.write(`${line}\n`)
      const l = parsePeerLine(line)
      if (l) this.lines.push(l)
    })
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
    const forget = onTeardown(() => this.kill())
    void this.exited.then(forget)
  }

  /** Why the process cannot be waited on any more, if it cannot. */
  trouble(): string | undefined {
    const f = failure(this.lines)
    if (f) return `Kafka Streams failed: ${f}`
    return this.child.exitCode !== null || this.child.signalCode !== null ? `Kafka Streams exited (${this.child.exitCode ?? this.child.signalCode})` : undefined
  }

  async running(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const at = runningAt(this.lines)
      if (at !== undefined) return at
      const t = this.trouble()
      if (t) throw new Error(t)
      if (Date.now() > deadline) throw new Error(`Kafka Streams not RUNNING within ${timeoutMs} ms`)
      await sleep(10)
    }
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
    await this.exited
  }

  /** SIGTERM, and SIGKILL if it has not exited within a minute. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000)
    await this.exited
    clearTimeout(timer)
    this.#log.end()
  }
}

export interface PeerSetup {
  command: string[]
  brokers: string
  dir: string
}

export function peerEnv(s: PeerSetup, app: string, input: string, output: string, threads: number): Record<string, string> {
  return {
    APPLICATION_ID: app,
    BOOTSTRAP_SERVERS: s.brokers,
    INPUT_TOPIC: input,
    OUTPUT_TOPIC: output,
    STATE_DIR: join(s.dir, app),
    STREAM_THREADS: String(threads),
    INSTANCE_ID: `${app}-0`,
    WINDOW_SIZE_MS: String(WINDOW_MS),
    GRACE_MS: String(GRACE_MS),
    RETENTION_MS: String(RETENTION_MS),
    COMMIT_INTERVAL_MS: '100',
  }
}

/** OpB shards alone (no OpA): their input is enriched events, `input` when given, else the pipeline's own topic. */
export function opbPipeline(o: Pick<KStreamsOptions, 'brokers' | 'httpBase'>, name: string, shards: number, dir: string, input?: string, extra: Record<string, string> = {}): LocalPipeline {
  const env = { ...OPB_ENV, ...(input ? { TOPIC_ENRICHED: input } : {}), ...extra }
  return new LocalPipeline({ brokers: o.brokers, pipeline: name, shards, ordersPartitions: shards, opaInstances: 0, dataDir: join(dir, name), httpBase: o.httpBase, env })
}

/** A pipeline's topics; `config` goes to the topics OpB writes. */
export async function opbTopics(settings: KafkaSettings, name: string, shards: number, config: Record<string, string> = {}): Promise<ReturnType<typeof topicsFor>> {
  const t = topicsFor(name)
  const written = new Set([t.TOPIC_OUTPUT, t.TOPIC_CHANGELOG, t.TOPIC_LATE, t.TOPIC_SNAPSHOTS])
  await ensureTopics(settings, pipelineTopics({ ...t, ORDERS_PARTITIONS: shards, SHARDS: shards }).map((spec) => (written.has(spec.name) ? { ...spec, config: { ...spec.config, ...config } } : spec)))
  return t
}

export const opbTrouble = (w: WorkerProcess) => () => (w.child.exitCode !== null || w.child.signalCode !== null ? `OpB ${w.name} exited (see ${w.logFile})` : undefined)
export const anyTrouble = (checks: (() => string | undefined)[]) => () => checks.map((c) => c()).find((x) => x !== undefined)

