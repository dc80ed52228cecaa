import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdtempSync, renameSync, rmSync, type WriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { decodeOutput, encodeEvent, RIDE_TYPES, type RideEvent, windowStart, zonePartition } from '@ridepulse/contracts'
import { createRng, createTraffic } from '@ridepulse/worker/core/generator'
import { firstCommitAfterRecovery, getJson, LocalPipeline, sleep, topicsFor, waitReady, type WorkerProcess } from '@ridepulse/worker/demo/pipeline'
import { committedOffsets, ensureTopics, PartitionReader, PlainProducer, type KafkaSettings, type OutgoingRecord } from '@ridepulse/kafka'
import { pipelineTopics } from '@ridepulse/worker/topics'
import type { Experiment, Figure } from '../results.js'
import { summarize, type Summary } from '../stats.js'
import { failure, parsePeerLine, peerTotal, ratio, restoreSummary, runningAt, type PeerLine } from './kstreams-lines.js'
import { onTeardown } from '@ridepulse/worker/demo/teardown'

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

const WINDOW_MS = 60_000
/** OpB's defaults: a window is final once the watermark (highest event time − 5 s) passes its end + 10 s. */
const OPB_LATENESS_MS = 10_000
const OPB_OUT_OF_ORDERNESS_MS = 5_000
/** Kafka Streams compares window end + grace with the highest event time itself: the same cut-off is 15 s. */
const GRACE_MS = OPB_LATENESS_MS + OPB_OUT_OF_ORDERNESS_MS
/** Window retention of both: long enough to hold every key of the largest state (500 zones × 2,000 past minutes at 1M keys). */
const RETENTION_MS = 7 * 86_400_000
const KEY_ZONES = 500
const OPB_ENV = {
  WINDOW_SIZE_MS: String(WINDOW_MS),
  ALLOWED_LATENESS_MS: String(OPB_LATENESS_MS),
  OUT_OF_ORDERNESS_MS: String(OPB_OUT_OF_ORDERNESS_MS),
  COMMIT_INTERVAL_MS: '100',
  RETENTION_MS: String(RETENTION_MS),
  LOG_LEVEL: 'warn',
}

const say = (s: string) => process.stdout.write(`kstreams: ${s}\n`)
const stamp = () => Date.now().toString(36)

// ---------------------------------------------------------------- input

/** A chunk of enriched records as OpA writes them: keyed by zone, on the zone's partition, stamped with the event time. */
const toRecords = (topic: string, partitions: number, events: RideEvent[]): OutgoingRecord[] =>
  events.map((e) => ({ topic, partition: zonePartition(e.zone, partitions), key: e.zone, value: encodeEvent(e), timestamp: e.ts }))

/**
 * Writes chunks as they are made, so a million events never sit in memory at
 * once. One send at a time: the idempotent producer's sequence numbers break
 * with several batches of a partition in flight.
 */
async function produceChunks(settings: KafkaSettings, chunks: Iterable<OutgoingRecord[]>): Promise<number> {
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
function* backlogChunks(topic: string, partitions: number, events: number): Generator<OutgoingRecord[]> {
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
function* keyChunks(topic: string, keys: number): Generator<OutgoingRecord[]> {
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
function startEnrichedLoad(o: { settings: KafkaSettings; topic: string; partitions: number; rate: number; seed: number; onBatch?: (events: RideEvent[], atMs: number) => void }): { stop(): Promise<number> } {
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

type Decode = (key: Buffer | null, value: Buffer) => { key: string; total: number } | undefined

const decodeOurs: Decode = (_key, value) => {
  const o = decodeOutput(value)
  return { key: `${o.zone}|${o.windowStart}`, total: o.requested + o.matched + o.completed + o.cancelled }
}

const decodeTheirs: Decode = (key, value) => {
  const total = peerTotal(value.toString('utf8'))
  return key && total !== undefined ? { key: key.toString('utf8'), total } : undefined
}

/**
 * Follows an output topic read_committed, as a dashboard would: the latest
 * total of every zone and window, their sum, when the first record showed
 * up, and every growth of a window's total (for latency).
 */
class OutputFollower {
  readonly totals = new Map<string, number>()
  sum = 0
  firstAt: number | undefined
  #stopped = false
  #loops: Promise<void>[] = []
  readonly #readers: PartitionReader[]

  constructor(
    settings: KafkaSettings,
    topic: string,
    partitions: number,
    private readonly decode: Decode,
    private readonly onGrowth?: (key: string, grew: number, atMs: number) => void,
  ) {
    this.#readers = Array.from({ length: partitions }, (_, p) => new PartitionReader(settings, topic, p))
  }

  /** What a read_committed reader can read now, per partition: where a follower of new records only starts. */
  async ends(): Promise<number[]> {
    return await Promise.all(this.#readers.map((r) => r.endOffset()))
  }

  start(from?: number[]): void {
    this.#loops = this.#readers.map(async (reader, p) => {
      let offset = from?.[p] ?? 0
      while (!this.#stopped) {
        const res = await reader.fetch(offset, { maxWaitMs: 50, maxBytes: 8 << 20 })
        const now = Date.now()
        for (const rec of res.records) {
          if (!rec.value) continue
          this.firstAt ??= now
          const o = this.decode(rec.key, rec.value)
          if (!o) continue
          const grew = o.total - (this.totals.get(o.key) ?? 0)
          if (grew <= 0) continue
          this.totals.set(o.key, o.total)
          this.sum += grew
          this.onGrowth?.(o.key, grew, now)
        }
        offset = res.nextOffset
      }
    })
  }

  async until(what: string, done: () => boolean, timeoutMs: number, alive: () => string | undefined): Promise<number> {
    const deadline = Date.now() + timeoutMs
    while (!done()) {
      const dead = alive()
      if (dead) throw new Error(`${what}: ${dead}`)
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (output total ${this.sum})`)
      await sleep(10)
    }
    return Date.now()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    await Promise.all(this.#loops)
    await Promise.all(this.#readers.map((r) => r.close()))
  }
}

/**
 * Produce time → visible to a read_committed reader of the output, per
 * event: the events of a zone and window are taken to show up in the order
 * they were produced, so a window whose total grows by k retires its k
 * oldest produce times. Events produced before `fromMs` (the warm-up) are
 * retired but not counted.
 */
class LatencyTracker {
  readonly #pending = new Map<string, number[]>()
  readonly samples: number[] = []

  constructor(private readonly fromMs: number) {}

  produced(events: RideEvent[], atMs: number): void {
    for (const e of events) {
      const key = `${e.zone}|${windowStart(e.ts, WINDOW_MS)}`
      const q = this.#pending.get(key)
      if (q) q.push(atMs)
      else this.#pending.set(key, [atMs])
    }
  }

  visible(key: string, grew: number, atMs: number): void {
    for (const producedAt of (this.#pending.get(key) ?? []).splice(0, grew)) if (producedAt >= this.fromMs) this.samples.push(atMs - producedAt)
  }
}

// ---------------------------------------------------------------- the two systems

/** One JVM of the Kafka Streams peer; its stdout status lines parsed as they come. */
class Peer {
  readonly lines: PeerLine[] = []
  readonly child: ChildProcess
  readonly startedAt: number
  readonly exited: Promise<number | null>
  readonly #log: WriteStream

  constructor(command: string[], env: Record<string, string>, logFile: string) {
    this.#log = createWriteStream(logFile, { flags: 'a' })
    this.child = spawn(command[0]!, command.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    this.startedAt = Date.now()
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

interface PeerSetup {
  command: string[]
  brokers: string
  dir: string
}

function peerEnv(s: PeerSetup, app: string, input: string, output: string, threads: number): Record<string, string> {
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
function opbPipeline(o: KStreamsOptions, name: string, shards: number, dir: string, input?: string, extra: Record<string, string> = {}): LocalPipeline {
  const env = { ...OPB_ENV, ...(input ? { TOPIC_ENRICHED: input } : {}), ...extra }
  return new LocalPipeline({ brokers: o.brokers, pipeline: name, shards, ordersPartitions: shards, opaInstances: 0, dataDir: join(dir, name), httpBase: o.httpBase, env })
}

/** A pipeline's topics; `config` goes to the topics OpB writes. */
async function opbTopics(settings: KafkaSettings, name: string, shards: number, config: Record<string, string> = {}): Promise<ReturnType<typeof topicsFor>> {
  const t = topicsFor(name)
  const written = new Set([t.TOPIC_OUTPUT, t.TOPIC_CHANGELOG, t.TOPIC_LATE, t.TOPIC_SNAPSHOTS])
  await ensureTopics(settings, pipelineTopics({ ...t, ORDERS_PARTITIONS: shards, SHARDS: shards }).map((spec) => (written.has(spec.name) ? { ...spec, config: { ...spec.config, ...config } } : spec)))
  return t
}

const opbTrouble = (w: WorkerProcess) => () => (w.child.exitCode !== null || w.child.signalCode !== null ? `OpB ${w.name} exited (see ${w.logFile})` : undefined)
const anyTrouble = (checks: (() => string | undefined)[]) => () => checks.map((c) => c()).find((x) => x !== undefined)

// ---------------------------------------------------------------- throughput

interface Drain {
  /** Backlog events / (all output committed − first process ready). */
  rate: number
  spawnToDoneMs: number
  readyMs: number
  /** OpB: transactions committed by its shards during the drain. */
  commits?: number
}

async function drainOurs(o: KStreamsOptions, settings: KafkaSettings, name: string, dir: string, input: string, events: number): Promise<Drain> {
  await opbTopics(settings, name, o.partitions)
  const p = opbPipeline(o, name, o.partitions, dir, input)
  const follower = new OutputFollower(settings, p.topics.TOPIC_OUTPUT, o.partitions, decodeOurs)
  try {
    follower.start()
    const workers = Array.from({ length: o.partitions }, (_, s) => p.startOpb(s))
    const spawnedAt = Math.min(...workers.map((w) => w.startedAt))
    // From the first shard ready: it starts counting at once (a conservative start for us).
    const readyAt = Math.min(...(await Promise.all(workers.map((w) => waitReady(w, 120_000)))))
    const doneAt = await follower.until('OpB drain', () => follower.sum >= events, 600_000, anyTrouble(workers.map(opbTrouble)))
    // How many transactions the drain took: OpB commits every 100 ms or every COMMIT_MAX_RECORDS input records.
    const commits = (await Promise.all(workers.map((w) => getJson<{ commits: number }>(w.port, '/status')))).reduce((n, st) => n + st.commits, 0)
    return { rate: Math.round(events / ((doneAt - readyAt) / 1000)), spawnToDoneMs: doneAt - spawnedAt, readyMs: readyAt - spawnedAt, commits }
  } finally {
    await follower.stop()
    await p.stopAll()
  }
}

async function drainTheirs(o: KStreamsOptions, s: PeerSetup, settings: KafkaSettings, name: string, input: string, events: number): Promise<Drain> {
  const output = `${name}.output`
  await ensureTopics(settings, [{ name: output, partitions: o.partitions }])
  const follower = new OutputFollower(settings, output, o.partitions, decodeTheirs)
  const peer = new Peer(s.command, peerEnv(s, name, input, output, o.partitions), join(s.dir, `${name}.log`))
  try {
    follower.start()
    const readyAt = await peer.running(120_000)
    const doneAt = await follower.until('Kafka Streams drain', () => follower.sum >= events, 600_000, () => peer.trouble())
    return { rate: Math.round(events / ((doneAt - readyAt) / 1000)), spawnToDoneMs: doneAt - peer.startedAt, readyMs: readyAt - peer.startedAt }
  } finally {
    await follower.stop()
    await peer.stop()
  }
}

const median = (xs: number[]) => summarize(xs).p50

async function throughput(o: KStreamsOptions, s: PeerSetup, settings: KafkaSettings): Promise<Figure[]> {
  const name = `kst-${stamp()}`
  const topics = await opbTopics(settings, name, o.partitions)
  const events = await produceChunks(settings, backlogChunks(topics.TOPIC_ENRICHED, o.partitions, o.backlog))
  say(`throughput: ${events} enriched events in ${topics.TOPIC_ENRICHED}`)
  const ours: Drain[] = []
  const theirs: Drain[] = []
  for (let r = 0; r < o.rounds; r++) {
    // Both read the very same topic from its start; who goes first alternates.
    const runOurs = async () => ours.push(await drainOurs(o, settings, `${name}-o${r}`, s.dir, topics.TOPIC_ENRICHED, events))
    const runTheirs = async () => theirs.push(await drainTheirs(o, s, settings, `${name}-t${r}`, topics.TOPIC_ENRICHED, events))
    if (r % 2 === 0) {
      await runOurs()
      await runTheirs()
    } else {
      await runTheirs()
      await runOurs()
    }
    say(`throughput round ${r + 1}: ours ${ours.at(-1)!.rate}/s, Kafka Streams ${theirs.at(-1)!.rate}/s`)
  }
  const fig = (who: 'ours' | 'theirs', d: Drain[]): Figure[] => [
    { key: `kstreams.${who}.throughput`, label: `${who === 'ours' ? 'OpB' : 'Kafka Streams'}: backlog drained (ready → all output committed)`, unit: 'events/s', value: Math.round(median(d.map((x) => x.rate))), params: { events, partitions: o.partitions, rounds: d.length, min: Math.min(...d.map((x) => x.rate)), max: Math.max(...d.map((x) => x.rate)) } },
    {
      key: `kstreams.${who}.drain`,
      label: `${who === 'ours' ? 'OpB' : 'Kafka Streams'}: spawn → all output committed`,
      unit: 'ms',
      value: Math.round(median(d.map((x) => x.spawnToDoneMs))),
      params: { events, readyMs: Math.round(median(d.map((x) => x.readyMs))), ...(d[0]?.commits !== undefined ? { transactions: Math.round(median(d.map((x) => x.commits ?? 0))) } : {}) },
    },
  ]
  const r = ratio(median(ours.map((x) => x.rate)), median(theirs.map((x) => x.rate)))
  return [
    ...fig('ours', ours),
    ...fig('theirs', theirs),
    ...(r === undefined ? [] : [{ key: 'kstreams.ratio.throughput', label: 'throughput, OpB / Kafka Streams', unit: '×', value: r, params: { events, partitions: o.partitions } }]),
  ]
}

// ---------------------------------------------------------------- latency

const WARMUP_MS = 3000

async function latencyOf(o: KStreamsOptions, settings: KafkaSettings, input: string, follower: OutputFollower, tracker: LatencyTracker, trouble: () => string | undefined): Promise<number> {
  follower.start()
  const load = startEnrichedLoad({ settings, topic: input, partitions: o.partitions, rate: o.rate, seed: 5, onBatch: (events, at) => tracker.produced(events, at) })
  const deadline = Date.now() + WARMUP_MS + o.latencySeconds * 1000
  while (Date.now() < deadline) {
    const t = trouble()
    if (t) throw new Error(t)
    await sleep(200)
  }
  const sent = await load.stop()
  await sleep(2000) // the last commits
  await follower.stop()
  return sent
}

async function latency(o: KStreamsOptions, s: PeerSetup, settings: KafkaSettings): Promise<Figure[]> {
  const out: Figure[] = []
  const sums: Record<'ours' | 'theirs', Summary | undefined> = { ours: undefined, theirs: undefined }
  {
    const name = `ksl-o-${stamp()}`
    const topics = await opbTopics(settings, name, o.partitions)
    const p = opbPipeline(o, name, o.partitions, s.dir)
    try {
      const workers = Array.from({ length: o.partitions }, (_, sh) => p.startOpb(sh))
      await Promise.all(workers.map((w) => waitReady(w, 120_000)))
      const tracker = new LatencyTracker(Date.now() + WARMUP_MS)
      const follower = new OutputFollower(settings, topics.TOPIC_OUTPUT, o.partitions, decodeOurs, (k, g, at) => tracker.visible(k, g, at))
      const sent = await latencyOf(o, settings, topics.TOPIC_ENRICHED, follower, tracker, anyTrouble(workers.map(opbTrouble)))
      sums.ours = summarize(tracker.samples)
      out.push({ key: 'kstreams.ours.latency', label: `OpB: end-to-end latency at ${o.rate} events/s`, unit: 'ms', summary: sums.ours, params: { offered: o.rate, sent, seconds: o.latencySeconds } })
    } finally {
      await p.stopAll()
    }
  }
  {
    const name = `ksl-t-${stamp()}`
    const input = `${name}.input`
    const output = `${name}.output`
    await ensureTopics(settings, [{ name: input, partitions: o.partitions }, { name: output, partitions: o.partitions }])
    const peer = new Peer(s.command, peerEnv(s, name, input, output, o.partitions), join(s.dir, `${name}.log`))
    try {
      await peer.running(120_000)
      const tracker = new LatencyTracker(Date.now() + WARMUP_MS)
      const follower = new OutputFollower(settings, output, o.partitions, decodeTheirs, (k, g, at) => tracker.visible(k, g, at))
      const sent = await latencyOf(o, settings, input, follower, tracker, () => peer.trouble())
      sums.theirs = summarize(tracker.samples)
      out.push({ key: 'kstreams.theirs.latency', label: `Kafka Streams: end-to-end latency at ${o.rate} events/s`, unit: 'ms', summary: sums.theirs, params: { offered: o.rate, sent, seconds: o.latencySeconds } })
    } finally {
      await peer.stop()
    }
  }
  say(`latency at ${o.rate}/s: ours p50 ${sums.ours?.p50} p99 ${sums.ours?.p99} ms, Kafka Streams p50 ${sums.theirs?.p50} p99 ${sums.theirs?.p99} ms`)
  for (const q of ['p50', 'p99'] as const) {
    const r = ratio(sums.ours?.[q], sums.theirs?.[q])
    if (r !== undefined) out.push({ key: `kstreams.ratio.latency.${q}`, label: `latency ${q}, OpB / Kafka Streams`, unit: '×', value: r, params: { offered: o.rate } })
  }
  return out
}

// ---------------------------------------------------------------- recovery

interface Kill {
  /** The first kill of the process that built the state; else the kill of a replacement. */
  first: boolean
  /** Spawn → first output record of the replacement visible read_committed. */
  ttrMs: number
  /** Spawn → ready (OpB /readyz) or RUNNING (Kafka Streams). */
  readyMs: number
  /** OpB: spawn → its own first commit, by its clock (a cross-check of ttrMs). */
  ownCommitMs?: number
  /** The replacement's restore: Kafka Streams' changelog restore, or OpB's snapshot load and changelog replay. */
  restore: { records: number; ms: number }
}

interface Build {
  kills: Kill[]
  /** From the built state (and live input starting) to the first kill. */
  settledMs: number
}

interface OpbRecovery {
  readyAt: number
  phasesMs: { snapshotLoad: number; replay: number }
  replayedRecords: number
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, trouble: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    const t = trouble()
    if (t) throw new Error(`${what}: ${t}`)
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(200)
  }
}

/**
 * Spawn → the first output record after it: the follower starts at the
 * read_committed end, read after the spawn (the old process is dead, and the
 * new one cannot have committed anything yet), the same for both systems.
 */
async function firstOutput(settings: KafkaSettings, topic: string, spawnedAt: number, trouble: () => string | undefined): Promise<number> {
  const follower = new OutputFollower(settings, topic, 1, () => undefined)
  try {
    follower.start(await follower.ends())
    return (await follower.until('first output after the restart', () => follower.firstAt !== undefined, 300_000, trouble)) - spawnedAt
  } finally {
    await follower.stop()
  }
}

/** A pause of one to two seconds before each kill, so kills land anywhere in the commit cycle. */
const pause = (rng: ReturnType<typeof createRng>) => sleep(1000 + rng.int(1000))

/**
 * One OpB shard builds a state of `keys` windows from its input; then `kills`
 * SIGKILLs, each replacement spawned at once. The first waits for OpB's first
 * full snapshot after the build: while the build runs, each partial snapshot
 * holds most of the keys, and a chain of those is what a kill just after a
 * bulk load would restore, not what a long-running shard holds.
 */
async function recoverOurs(o: KStreamsOptions, settings: KafkaSettings, keys: number, dir: string, seed: number): Promise<Build> {
  const name = `ksr-o${keys}-${stamp()}`
  const topics = await opbTopics(settings, name, 1)
  await produceChunks(settings, keyChunks(topics.TOPIC_ENRICHED, keys))
  const p = opbPipeline(o, name, 1, dir, undefined, { SNAPSHOT_INTERVAL_MS: String(o.snapshotIntervalMs) })
  let load: { stop(): Promise<number> } | undefined
  try {
    let w = p.startOpb(0)
    await waitReady(w, 120_000)
    await waitUntil('OpB building its state', async () => (await getJson<{ inputOffset: number }>(w.port, '/status')).inputOffset >= keys, 900_000, opbTrouble(w))
    const builtAt = Date.now()
    load = startEnrichedLoad({ settings, topic: topics.TOPIC_ENRICHED, partitions: 1, rate: o.liveRate, seed: 17 })
    await waitUntil(
      'OpB full snapshot after the build',
      async () => {
        const snap = (await getJson<{ lastSnapshot: { kind: string; createdAt: number } | null }>(w.port, '/status')).lastSnapshot
        return snap?.kind === 'full' && snap.createdAt >= builtAt
      },
      600_000,
      opbTrouble(w),
    )
    const settledMs = Date.now() - builtAt
    say(`recovery ${keys}: OpB holds ${(await getJson<{ keys: number }>(w.port, '/status')).keys} windows, a full snapshot of them ${settledMs} ms after the build`)
    const rng = createRng(seed)
    const kills: Kill[] = []
    for (let k = 0; k < o.kills; k++) {
      await pause(rng)
      await p.killOpb(0)
      w = p.startOpb(0)
      const ttrMs = await firstOutput(settings, topics.TOPIC_OUTPUT, w.startedAt, opbTrouble(w))
      // Ready and first commit as the worker itself recorded them (its /status), not when polled.
      await waitReady(w, 300_000)
      const ownCommitMs = (await firstCommitAfterRecovery(w.port, 300_000)) - w.startedAt
      const { lastRecovery: r } = await getJson<{ lastRecovery: OpbRecovery }>(w.port, '/status')
      kills.push({ first: k === 0, ttrMs, readyMs: r.readyAt - w.startedAt, ownCommitMs, restore: { records: r.replayedRecords, ms: r.phasesMs.snapshotLoad + r.phasesMs.replay } })
      const current = w
      await waitUntil('OpB caught up', async () => (await getJson<{ lag: number }>(current.port, '/status')).lag <= Math.max(20, o.liveRate / 10), 300_000, opbTrouble(current))
    }
    return { kills, settledMs }
  } finally {
    await load?.stop()
    await p.stopAll()
    rmSync(join(dir, name), { recursive: true, force: true })
  }
}

/**
 * The same for one Kafka Streams JVM with one stream thread (one task, one
 * changelog partition); its first kill comes as long after its build as
 * OpB's did, with the same input flowing meanwhile.
 */
async function recoverTheirs(o: KStreamsOptions, s: PeerSetup, settings: KafkaSettings, keys: number, seed: number, settledMs: number): Promise<Kill[]> {
  const name = `ksr-t${keys}-${stamp()}`
  const input = `${name}.input`
  const output = `${name}.output`
  await ensureTopics(settings, [{ name: input, partitions: 1 }, { name: output, partitions: 1 }])
  await produceChunks(settings, keyChunks(input, keys))
  const env = peerEnv(s, name, input, output, 1)
  const log = join(s.dir, `${name}.log`)
  let peer = new Peer(s.command, env, log)
  let load: { stop(): Promise<number> } | undefined
  const committed = async () => (await committedOffsets(settings, name, input, [0])).offsets.get(0) ?? 0
  const reader = new PartitionReader(settings, input, 0)
  try {
    await peer.running(120_000)
    await waitUntil('Kafka Streams building its state', async () => (await committed()) >= keys, 900_000, () => peer.trouble())
    load = startEnrichedLoad({ settings, topic: input, partitions: 1, rate: o.liveRate, seed: 17 })
    say(`recovery ${keys}: Kafka Streams has built its state`)
    await sleep(settledMs)
    const rng = createRng(seed)
    const kills: Kill[] = []
    for (let k = 0; k < o.kills; k++) {
      await pause(rng)
      await peer.kill()
      peer = new Peer(s.command, env, log)
      const current = peer
      const ttrMs = await firstOutput(settings, output, current.startedAt, () => current.trouble())
      const readyMs = (await current.running(300_000)) - current.startedAt
      const r = restoreSummary(current.lines)
      kills.push({ first: k === 0, ttrMs, readyMs, restore: { records: r.records, ms: r.ms } })
      await waitUntil('Kafka Streams caught up', async () => (await reader.endOffset()) - (await committed()) <= Math.max(20, o.liveRate / 10), 300_000, () => current.trouble())
    }
    return kills
  } finally {
    await load?.stop()
    await reader.close()
    await peer.stop()
  }
}

function recoveryFigures(keys: number, ours: Kill[], theirs: Kill[], liveRate: number): Figure[] {
  const k = keys.toLocaleString('en')
  const out: Figure[] = []
  const cases = [
    { name: 'first', pick: (x: Kill) => x.first, text: 'first kill after the state was built' },
    { name: 'again', pick: (x: Kill) => !x.first, text: 'later kills, each of a replacement that had caught up' },
  ] as const
  for (const c of cases) {
    const o = ours.filter(c.pick)
    const t = theirs.filter(c.pick)
    if (o.length === 0 || t.length === 0) continue
    const ttrOurs = summarize(o.map((x) => x.ttrMs))
    const ttrTheirs = summarize(t.map((x) => x.ttrMs))
    // Record counts exactly, not through a histogram's three significant digits.
    const counts = (xs: Kill[]) => {
      const r = xs.map((x) => x.restore.records).sort((a, b) => a - b)
      return { recordsMedian: r[Math.floor((r.length - 1) / 2)]!, recordsMax: r.at(-1)! }
    }
    const params = { keys, liveRate }
    // The first kill of each size is the headline: `kstreams.ratio.ttr.<keys>`.
    const suffix = c.name === 'first' ? `${keys}` : `again.${keys}`
    out.push(
      { key: `kstreams.ours.ttr.${suffix}`, label: `OpB: spawn → first committed output, ${k} keys, ${c.text}`, unit: 'ms', summary: ttrOurs, params },
      { key: `kstreams.theirs.ttr.${suffix}`, label: `Kafka Streams: spawn → first committed output, ${k} keys, ${c.text}`, unit: 'ms', summary: ttrTheirs, params },
      { key: `kstreams.ours.restore.${suffix}`, label: `OpB: snapshot load + changelog replay, ${k} keys, ${c.text}`, unit: 'ms', summary: summarize(o.map((x) => x.restore.ms)), params: { ...params, ...counts(o) } },
      { key: `kstreams.theirs.restore.${suffix}`, label: `Kafka Streams: changelog restore, ${k} keys, ${c.text}`, unit: 'ms', summary: summarize(t.map((x) => x.restore.ms)), params: { ...params, ...counts(t) } },
    )
    const r = ratio(ttrOurs.p50, ttrTheirs.p50)
    if (r !== undefined) out.push({ key: `kstreams.ratio.ttr.${suffix}`, label: `time to recover p50, OpB / Kafka Streams, ${k} keys, ${c.text}`, unit: '×', value: r, params: { ...params, kills: `${o.length}+${t.length}`, p95: ratio(ttrOurs.p95, ttrTheirs.p95) ?? 'n/a' } })
  }
  out.push(
    { key: `kstreams.ours.ready.${keys}`, label: `OpB: spawn → ready, ${k} keys, every kill`, unit: 'ms', summary: summarize(ours.map((x) => x.readyMs)), params: { keys } },
    { key: `kstreams.ours.commit.${keys}`, label: `OpB: spawn → its own first commit, ${k} keys, every kill`, unit: 'ms', summary: summarize(ours.map((x) => x.ownCommitMs ?? 0)), params: { keys } },
    { key: `kstreams.theirs.running.${keys}`, label: `Kafka Streams: spawn → RUNNING, ${k} keys, every kill`, unit: 'ms', summary: summarize(theirs.map((x) => x.readyMs)), params: { keys } },
  )
  return out
}

async function recovery(o: KStreamsOptions, s: PeerSetup, settings: KafkaSettings): Promise<Figure[]> {
  const out: Figure[] = []
  for (const keys of o.keys) {
    const ours: Kill[] = []
    const theirs: Kill[] = []
    for (let b = 0; b < o.builds; b++) {
      const built = await recoverOurs(o, settings, keys, s.dir, keys + b)
      ours.push(...built.kills)
      theirs.push(...(await recoverTheirs(o, s, settings, keys, keys + b, built.settledMs)))
    }
    const p50 = (xs: Kill[], first: boolean) => summarize(xs.filter((x) => x.first === first).map((x) => x.ttrMs)).p50
    say(`recovery ${keys}: first kill p50 ours ${p50(ours, true)} ms, Kafka Streams ${p50(theirs, true)} ms; later kills ours ${p50(ours, false)} ms, Kafka Streams ${p50(theirs, false)} ms`)
    out.push(...recoveryFigures(keys, ours, theirs, o.liveRate))
  }
  return out
}

// ---------------------------------------------------------------- the experiment

const ARCHIVE_FLAG = '-XX:ArchiveClassesAtExit='

/**
 * The peer's command line, with a class-data archive (README.md): made once
 * per build by a training run that drains a small backlog and stops cleanly,
 * so that no timed start pays for loading classes the archive could map.
 */
async function peerCommand(script: string, brokers: string, dir: string, settings: KafkaSettings): Promise<{ command: string[]; archived: boolean }> {
  const runSh = (what: string) => execFileSync('bash', [script, what], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n')
  const command = runSh('command')
  if (command.some((a) => a.startsWith('-XX:SharedArchiveFile='))) return { command, archived: true }
  const training = runSh('archive-command')
  const target = training.find((a) => a.startsWith(ARCHIVE_FLAG))?.slice(ARCHIVE_FLAG.length)
  if (!target) return { command, archived: false }
  const name = `ksc-${stamp()}`
  await ensureTopics(settings, [{ name: `${name}.input`, partitions: 2 }, { name: `${name}.output`, partitions: 2 }])
  const events = await produceChunks(settings, backlogChunks(`${name}.input`, 2, 20_000))
  const follower = new OutputFollower(settings, `${name}.output`, 2, decodeTheirs)
  const peer = new Peer(training, peerEnv({ command: training, brokers, dir }, name, `${name}.input`, `${name}.output`, 2), join(dir, `${name}.log`))
  try {
    follower.start()
    await peer.running(120_000)
    await follower.until('class-data training run', () => follower.sum >= events, 120_000, () => peer.trouble())
  } finally {
    await follower.stop()
    await peer.stop()
  }
  // Written as the JVM exits; only a whole file is put in place.
  if (peer.child.signalCode !== 'SIGKILL' && existsSync(target)) renameSync(target, target.replace(/\.tmp$/, ''))
  const again = runSh('command')
  return { command: again, archived: again.some((a) => a.startsWith('-XX:SharedArchiveFile=')) }
}

/** How it was measured, for the report. */
const methodText = (o: KStreamsOptions, archived: boolean) =>
  'The same job as OpB written as an ordinary Kafka Streams 3.9.1 application (bench/peers/kafka-streams: exactly_once_v2, RocksDB window store, 1-minute event-time windows with a 15 s grace, the cut-off of OpB\'s default 10 s lateness plus 5 s out-of-orderness, commit interval 100 ms, static membership, its changelog compacted like OpB\'s' +
  (archived ? ', a class-data archive for a faster JVM start' : '') +
  '), run on the same broker and machine as OpB, one system at a time, on enriched events exactly as OpA writes them. ' +
  `Throughput: a backlog of ${o.backlog.toLocaleString('en')} events over ${o.partitions} partitions, drained by OpB ×${o.partitions} processes or by one JVM with ${o.partitions} stream threads, read from the same topic; timed from ready (OpB's first shard ready, Kafka Streams RUNNING) to the output, read_committed, holding every event; ${o.rounds} round(s) each, alternating which goes first, median. ` +
  'Both commit every 100 ms (OpB caps a transaction at 50,000 input records while it drains a backlog): see the transactions beside OpB\'s drain. ' +
  `Latency: ${o.latencySeconds} s at ${o.rate} events/s after ${WARMUP_MS / 1000} s of warm-up, produce → count visible to a read_committed reader of the output. ` +
  `Time to recover: one partition holding that many live window keys (${KEY_ZONES} zones × past minutes, one event each), built by each system from its own copy of the input, ${o.builds} time(s) per size; then ${o.liveRate} events/s flow in and, ${o.kills} times per build, the process is killed with SIGKILL and a replacement spawned at once. ` +
  `The first kill of a build comes once OpB has taken its first full snapshot after the build (a snapshot every ${o.snapshotIntervalMs / 1000} s, a full one every tenth), and as long after its build for Kafka Streams; each later kill once the replacement has caught up, after a pause of 1–2 s. ` +
  'Time to recover runs from the spawn to the first record of the replacement visible to a read_committed reader of the output, for both. ' +
  'At a first kill Kafka Streams finds no checkpoint (under exactly-once it writes none while it runs), wipes its store and restores the whole changelog; a replacement writes one as its restore ends, so a later kill restores only the changelog written since. The two cases are reported apart; restore phases come from Kafka Streams\' StateRestoreListener and OpB\'s /status. ' +
  'Ratios are OpB / Kafka Streams of figures from this run: below 1 means OpB takes less time, above 1 means OpB moves more events.'

export async function kafkaStreamsPeer(o: KStreamsOptions): Promise<Experiment> {
  const dir = mkdtempSync(join(tmpdir(), 'ridepulse-kstreams-'))
  const settings = { brokers: [o.brokers], clientId: 'bench-kstreams' }
  let keep = false
  try {
    // Built, and its class-data archive made, before anything is timed.
    const { command, archived } = await peerCommand(join(o.root, 'bench', 'peers', 'kafka-streams', 'run.sh'), o.brokers, dir, settings)
    const s: PeerSetup = { command, brokers: o.brokers, dir }
    const figures = [...(await throughput(o, s, settings)), ...(await latency(o, s, settings)), ...(await recovery(o, s, settings))]
    return { title: 'Side by side with Kafka Streams', method: methodText(o, archived), figures }
  } catch (err) {
    keep = true
    throw new Error(`${err instanceof Error ? err.message : String(err)} (logs of both systems kept in ${dir})`, { cause: err })
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
}
