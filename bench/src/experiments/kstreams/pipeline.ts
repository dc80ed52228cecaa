import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRng, getJson, OutputFollower, OutputLatency, readWholeTopic, startLoad, waitUntil, type LocalPipeline } from '@ridepulse/testkit'
import { setTimeout as sleep } from 'node:timers/promises'
import { CommittedPositions, ensureTopics, PartitionReader, PlainProducer, type KafkaSettings, type OutgoingRecord } from '@ridepulse/kafka'
import { pipelineTopics } from '@ridepulse/worker'
import type { Experiment, Figure } from '../../results.js'
import { summarize, type Summary } from '../../stats.js'
import { ratio, restoreSummary } from '../kstreams-lines.js'
import { drainRate, freshPipeline, latencyAtRate, STEADY_LATENESS_MS, STEADY_OUT_OF_ORDERNESS_MS, writeBacklog, type SteadyOptions } from '../steady.js'
import { killAndRecover, type Kill } from '../underload.js'
import { peerCommand } from './index.js'
import { bothInTurn, decodeTheirs, KEY_ZONES, Peer, peerEnv, type PeerSetup, RETENTION_MS, stamp } from './setup.js'

/**
 * The whole pipeline side by side with Kafka Streams: raw `orders` records
 * in, validated (refused ones to a dead-letter topic), counted per zone and
 * minute, exactly-once, on both sides. Ours is OpA ×1 and OpB × shards; the
 * peer is one Kafka Streams application (bench/peers/kafka-streams with
 * PIPELINE=whole) in one JVM with a stream thread per shard, its validation
 * and its counting joined by a repartition topic. Throughput on the same
 * backlog, latency at fractions of each one's own maximum, and time to
 * recover from a SIGKILL (the peer's exactly-once case: no checkpoint, its
 * store wiped and restored from the changelog) and from a clean stop (the
 * peer restarts from its checkpoint).
 */
export interface PipelineComparisonOptions {
  root: string
  brokers: string
  shards: number
  /** Raw events in the drained backlog. */
  backlog: number
  /** Drains per system, alternating which goes first. */
  rounds: number
  /** Latency loads, as fractions of each system's own maximum. */
  levels: number[]
  /** Seconds of load per latency level. */
  seconds: number
  /** Live window keys built from raw history before the recovery trials. */
  keys: number
  /** Kills per system and kind. */
  kills: number
  httpBase: number
  say: (line: string) => void
}

const WINDOW_MS = 60_000
/** Our cut-off: a window closes once the watermark passes its end plus the allowed lateness, the watermark trailing the events by the out-of-orderness. */
const OUR_CUTOFF_MS = STEADY_LATENESS_MS + STEADY_OUT_OF_ORDERNESS_MS
/**
 * The peer's grace: the backlog's whole span. Its validation tasks (one per
 * raw partition) write into each repartition partition side by side and
 * drift tens of seconds of event time apart while they drain; with our
 * cut-off as its grace it dropped about a third of a backlog as late. It
 * emits no finals, so a long grace costs it nothing in latency.
 */
const GRACE_MS = 120_000
/** Kafka Streams' first seconds of load are left out of its latency: its JIT warms up meanwhile. */
const WARMUP_MS = 3000

type RecoveryKind = 'kill' | 'stop'

interface Recovery {
  kind: RecoveryKind
  /** From the death (or the exit of a clean stop) to the first output record of the restarted process. */
  firstOutput: number
  caughtUp: number
  /** Kafka Streams: the changelog records it restored, and how long that took. */
  restore?: { records: number; ms: number }
}

// ---------------------------------------------------------------- the peer

class WholePeer {
  readonly input: string
  readonly output: string
  readonly deadLetters: string
  readonly env: Record<string, string>
  peer: Peer

  constructor(
    private readonly s: PeerSetup,
    private readonly settings: KafkaSettings,
    readonly name: string,
    readonly shards: number,
  ) {
    this.input = `${name}.orders`
    this.output = `${name}.output`
    this.deadLetters = `${name}.dlq`
    this.env = { ...peerEnv(s, name, this.input, this.output, shards), PIPELINE: 'whole', DEAD_LETTER_TOPIC: this.deadLetters, SHARDS: String(shards), GRACE_MS: String(GRACE_MS) }
    this.peer = undefined as unknown as Peer
  }

  async topics(): Promise<void> {
    await ensureTopics(this.settings, [this.input, this.output, this.deadLetters].map((name) => ({ name, partitions: this.shards })))
  }

  start(): Peer {
    this.peer = new Peer(this.s.command, this.env, join(this.s.dir, `${this.name}.log`))
    return this.peer
  }

  /** Records not yet committed by the application: of its input, and of its repartition topic (validated, not yet counted). */
  async behind(): Promise<number> {
    // Clients kept across polls: a poll every 50 ms must not open connections of its own.
    const topics = [this.input, `${this.name}-by-zone-repartition`]
    this.#progress ??= {
      readers: topics.map((t) => Array.from({ length: this.shards }, (_, p) => new PartitionReader(this.settings, t, p))),
      positions: new CommittedPositions(this.settings, this.name),
    }
    const { readers, positions } = this.#progress
    const parts = Array.from({ length: this.shards }, (_, p) => p)
    let n = 0
    for (const [i, topic] of topics.entries()) {
      const [ends, committed] = await Promise.all([Promise.all(readers[i]!.map((r) => r.endOffset())), positions.of(topic, parts)])
      ends.forEach((end, p) => (n += Math.max(0, end - (committed.get(p) ?? 0))))
    }
    return n
  }

  #progress: { readers: PartitionReader[][]; positions: CommittedPositions } | undefined

  /** Stops the peer and lets go of the clients that followed it. */
  async stop(): Promise<void> {
    await this.peer.stop()
    const progress = this.#progress
    this.#progress = undefined
    if (progress) await Promise.all([...progress.readers.flat().map((r) => r.close()), progress.positions.close()])
  }

  until(what: string, done: () => Promise<boolean>, timeoutMs: number): Promise<number> {
    return waitUntil(what, done, { timeoutMs, trouble: () => this.peer.trouble() })
  }

  /** Records in the dead-letter topic, read_committed (its end offsets count the transactions' markers too). */
  async refused(): Promise<number> {
    return (await readWholeTopic(this.settings, this.deadLetters, this.shards)).length
  }
}

interface Drain {
  rate: number
  events: number
  valid: number
  counted: number
  refused: number
}

async function drainTheirs(o: PipelineComparisonOptions, s: PeerSetup, settings: KafkaSettings, name: string): Promise<Drain> {
  const w = new WholePeer(s, settings, name, o.shards)
  await w.topics()
  const { events, valid } = await writeBacklog(settings, w.input, o.shards, o.backlog)
  const follower = new OutputFollower(settings, w.output, o.shards, decodeTheirs)
  try {
    follower.start()
    const readyAt = await w.start().running(120_000)
    const doneAt = await w.until('Kafka Streams draining the backlog', async () => (await w.behind()) === 0, 600_000)
    await sleep(2000) // the follower reads the last commits
    return { rate: Math.round(events / ((doneAt - readyAt) / 1000)), events, valid, counted: follower.sum, refused: await w.refused() }
  } finally {
    await follower.stop()
    await w.stop()
  }
}

async function latencyOfTheirs(o: PipelineComparisonOptions, s: PeerSetup, settings: KafkaSettings, rate: number): Promise<{ summary: Summary; sent: number; achieved: number }> {
  const w = new WholePeer(s, settings, `kspl-${Math.round(rate)}-${stamp()}`, o.shards)
  await w.topics()
  try {
    await w.start().running(120_000)
    const probe = new OutputLatency(settings, w.output, o.shards, WINDOW_MS, decodeTheirs, Date.now() + WARMUP_MS).start()
    const load = startLoad({
      settings,
      topic: w.input,
      partitions: o.shards,
      ratePerSec: rate,
      zones: 50,
      seed: 5,
      malformedFraction: 0.005,
      maxDisorderMs: 500,
      onSent: (b, at) => probe.produced(b, at),
    })
    const began = Date.now()
    await w.until('Kafka Streams under load', async () => Date.now() - began >= WARMUP_MS + o.seconds * 1000, 600_000)
    const sent = await load.stop()
    const elapsed = (Date.now() - began) / 1000
    await sleep(2000) // the last commits
    await probe.stop()
    return { summary: summarize(probe.samples), sent: sent.sent, achieved: Math.round(probe.counted / elapsed) }
  } finally {
    await w.stop()
  }
}

// ---------------------------------------------------------------- recovery

/**
 * `keys` live windows as raw records: key i is zone i mod 500 and the
 * (i div 500)-th past minute, oldest first, keyed by ride. All on partition
 * 0, in event-time order: spread over the partitions, the stages reading
 * them (OpA, the peer's validation tasks) would move apart by thousands of
 * records, that is by minutes of event time, and each system would drop
 * much of the history as late.
 */
function* historyChunks(topic: string, keys: number): Generator<OutgoingRecord[]> {
  const now = Date.now()
  const base = Math.floor(now / WINDOW_MS) * WINDOW_MS - (Math.ceil(keys / KEY_ZONES) + 1) * WINDOW_MS
  for (let i = 0; i < keys; i += 5000) {
    const chunk: OutgoingRecord[] = []
    for (let j = i; j < Math.min(keys, i + 5000); j++) {
      const ride = `h${j}`
      const value = JSON.stringify({ eventId: ride, rideId: ride, zone: `zone-${j % KEY_ZONES}`, type: 'requested', ts: base + Math.floor(j / KEY_ZONES) * WINDOW_MS + (j % KEY_ZONES) * 100 })
      chunk.push({ topic, partition: 0, key: ride, value: Buffer.from(value) })
    }
    yield chunk
  }
}

async function writeHistory(settings: KafkaSettings, topic: string, keys: number): Promise<void> {
  const producer = new PlainProducer(settings)
  try {
    for (const chunk of historyChunks(topic, keys)) await producer.send(chunk)
  } finally {
    await producer.close()
  }
}

const lagLimit = (rate: number) => Math.max(50, Math.round(rate * 0.2))
/**
 * Every kill first, then every clean stop: a clean stop leaves Kafka Streams
 * a checkpoint, and a kill after the restart it allowed would restore from
 * it, not from a wiped store.
 */
const kindOf = (k: number, kills: number): RecoveryKind => (k < kills ? 'kill' : 'stop')

/** The kills, and how many of the history's events each system counted (a dropped one would shrink the state it recovers). */
interface Recoveries {
  kills: Recovery[]
  historyCounted: number
  /** From the history counted (and the load started) to the first kill. */
  settledMs: number
}

async function recoverOurs(o: PipelineComparisonOptions, so: SteadyOptions, settings: KafkaSettings, rate: number): Promise<Recoveries> {
  // Windows kept as long as the peer keeps them (its RETENTION_MS), so both recover the whole history.
  const p: LocalPipeline = freshPipeline(so, 'kspr', { RETENTION_MS: String(RETENTION_MS) })
  await ensureTopics(settings, pipelineTopics({ ...p.topics, ORDERS_PARTITIONS: o.shards, SHARDS: o.shards }))
  await writeHistory(settings, p.topics.TOPIC_ORDERS, o.keys)
  const out: Recovery[] = []
  let load: ReturnType<typeof startLoad> | undefined
  try {
    await p.startAll()
    const counted = async () => (await Promise.all([...p.opb.values()].map((w) => getJson<{ inputOffset: number }>(w.port, '/status')))).reduce((n, st) => n + st.inputOffset, 0)
    await waitUntil(`our pipeline counting its ${o.keys} history events`, async () => (await counted()) >= o.keys, { timeoutMs: 900_000, everyMs: 200 })
    const historyCounted = (await Promise.all([...p.opb.values()].map((w) => getJson<{ keys: number }>(w.port, '/status')))).reduce((n, st) => n + st.keys, 0)
    o.say(`kspipeline: ours holds ${historyCounted} windows after its history of ${o.keys}`)
    const builtAt = Date.now()
    load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: o.shards, ratePerSec: rate, zones: 50, seed: 7, malformedFraction: 0.005, maxDisorderMs: 500 })
    // The first kill once every shard has a full snapshot taken after the build: just after a bulk load a
    // shard holds a chain of partial snapshots that each hold most of the keys, which a long-running one does not.
    const fullSnapshots = async () => (await Promise.all([...p.opb.values()].map((w) => getJson<{ lastSnapshot: { kind: string; createdAt: number } | null }>(w.port, '/status')))).every((st) => st.lastSnapshot?.kind === 'full' && st.lastSnapshot.createdAt >= builtAt)
    await waitUntil('a full snapshot of every shard after the build', fullSnapshots, { timeoutMs: 600_000, everyMs: 500 })
    const settledMs = Math.max(5000, Date.now() - builtAt)
    const rng = createRng(41)
    for (let k = 0; k < 2 * o.kills; k++) {
      await sleep(1000 + rng.int(1000))
      const kind = kindOf(k, o.kills)
      const r: Kill = await killAndRecover(p, k % o.shards, kind === 'kill' ? 'outside' : 'stop', lagLimit(rate / o.shards))
      out.push({ kind, firstOutput: r.firstCommit, caughtUp: r.caughtUp })
      o.say(`kspipeline: ours, ${kind} of shard ${k % o.shards}: first commit ${r.firstCommit} ms, caught up ${r.caughtUp} ms after the ${kind === 'kill' ? 'death' : 'exit'}`)
    }
    return { kills: out, historyCounted, settledMs }
  } finally {
    await load?.stop()
    await p.stopAll()
    rmSync(p.opts.dataDir, { recursive: true, force: true })
  }
}

/** `settledMs`: as long from the history to the first kill as ours took. */
async function recoverTheirs(o: PipelineComparisonOptions, s: PeerSetup, settings: KafkaSettings, rate: number, settledMs: number): Promise<Recoveries> {
  const w = new WholePeer(s, settings, `kspr-t-${stamp()}`, o.shards)
  await w.topics()
  await writeHistory(settings, w.input, o.keys)
  const out: Recovery[] = []
  let load: ReturnType<typeof startLoad> | undefined
  try {
    const built = new OutputFollower(settings, w.output, o.shards, decodeTheirs).start()
    await w.start().running(120_000)
    await w.until('Kafka Streams counting its history', async () => (await w.behind()) === 0, 900_000)
    await sleep(2000) // the follower reads the last commits
    const historyCounted = built.sum
    await built.stop()
    o.say(`kspipeline: Kafka Streams counted ${historyCounted} of its history's ${o.keys} events`)
    load = startLoad({ settings, topic: w.input, partitions: o.shards, ratePerSec: rate, zones: 50, seed: 7, malformedFraction: 0.005, maxDisorderMs: 500 })
    await sleep(settledMs)
    const rng = createRng(41)
    for (let k = 0; k < 2 * o.kills; k++) {
      await sleep(1000 + rng.int(1000))
      const kind = kindOf(k, o.kills)
      if (kind === 'kill') await w.peer.kill()
      else await w.peer.stop()
      const diedAt = Date.now()
      const follower = new OutputFollower(settings, w.output, o.shards, () => undefined)
      try {
        follower.start(await follower.ends())
        const peer = w.start()
        const firstAt = await follower.until('first output after the restart', () => follower.firstAt !== undefined, 300_000, () => peer.trouble())
        const upAt = await w.until('Kafka Streams catching up', async () => (await w.behind()) <= lagLimit(rate), 300_000)
        const restored = restoreSummary(peer.lines)
        out.push({ kind, firstOutput: firstAt - diedAt, caughtUp: upAt - diedAt, restore: restored })
        o.say(`kspipeline: Kafka Streams, ${kind}: first output ${firstAt - diedAt} ms, caught up ${upAt - diedAt} ms after the ${kind === 'kill' ? 'death' : 'exit'}, ${restored.records} changelog records restored`)
      } finally {
        await follower.stop()
      }
    }
    return { kills: out, historyCounted, settledMs }
  } finally {
    await load?.stop()
    await w.stop()
  }
}

// ---------------------------------------------------------------- the experiment

export async function pipelineSideBySide(o: PipelineComparisonOptions): Promise<Experiment> {
  const dir = mkdtempSync(join(tmpdir(), 'ridepulse-kspipeline-'))
  const settings = { brokers: [o.brokers], clientId: 'bench-kspipeline' }
  const so: SteadyOptions = { kafka: { brokers: o.brokers }, shards: o.shards, backlog: o.backlog, seconds: o.seconds, levels: o.levels, httpBase: o.httpBase, windowMs: WINDOW_MS }
  let keep = false
  try {
    const { command, archived } = await peerCommand(join(o.root, 'bench', 'peers', 'kafka-streams', 'run.sh'), o.brokers, dir, settings)
    const s: PeerSetup = { command, brokers: o.brokers, dir }
    const figures: Figure[] = []

    // Throughput: the same backlog, drained by each, alternating which goes first.
    const ours: number[] = []
    const theirs: Drain[] = []
    for (let r = 0; r < o.rounds; r++) {
      await bothInTurn(
        r,
        async () => {
          const d = await drainRate(so, `kspd${r}`)
          if (!d.exact) throw new Error(`our drain ${r + 1} was not exact: lost ${d.lost}, duplicated ${d.duplicated}`)
          ours.push(d.rate)
        },
        async () => theirs.push(await drainTheirs(o, s, settings, `kspd-t${r}-${stamp()}`)),
      )
      const t = theirs.at(-1)!
      o.say(`kspipeline: drain ${r + 1}: ours ${ours.at(-1)} events/s, Kafka Streams ${t.rate} events/s (counted ${t.counted} of ${t.valid} valid, refused ${t.refused} of ${t.events - t.valid} invalid)`)
    }
    const oursMax = summarize(ours).p50
    const theirsMax = summarize(theirs.map((d) => d.rate)).p50
    const t0 = theirs[0]!
    figures.push(
      { key: 'kspipeline.ours.throughput', label: 'ours (OpA ×1, OpB × shards): raw backlog drained, exactly-once', unit: 'events/s', value: Math.round(oursMax), params: { events: t0.events, shards: o.shards, runs: ours.join(' ') } },
      {
        key: 'kspipeline.theirs.throughput',
        label: 'Kafka Streams (one JVM, a thread per shard): raw backlog drained, exactly_once_v2',
        unit: 'events/s',
        value: Math.round(theirsMax),
        params: { events: t0.events, runs: theirs.map((d) => d.rate).join(' '), countedOfValid: `${Math.min(...theirs.map((d) => d.counted))}/${t0.valid}`, refusedOfInvalid: `${theirs.map((d) => d.refused).join(' ')}/${t0.events - t0.valid}` },
      },
    )
    const tr = ratio(oursMax, theirsMax)
    if (tr !== undefined) figures.push({ key: 'kspipeline.ratio.throughput', label: 'whole pipeline throughput, ours / Kafka Streams', unit: '×', value: tr, params: { rounds: o.rounds } })

    // Latency at fractions of each one's own maximum.
    for (const level of o.levels) {
      const pct = Math.round(level * 100)
      const oursRate = Math.max(50, Math.round(oursMax * level))
      const theirsRate = Math.max(50, Math.round(theirsMax * level))
      const a = await latencyAtRate(so, `kspl${pct}`, oursRate)
      const b = await latencyOfTheirs(o, s, settings, theirsRate)
      const sa = summarize(a.samples)
      o.say(`kspipeline: latency at ${pct}%: ours p50 ${sa.p50} p99 ${sa.p99} ms at ${oursRate}/s, Kafka Streams p50 ${b.summary.p50} p99 ${b.summary.p99} ms at ${theirsRate}/s`)
      figures.push(
        { key: `kspipeline.ours.latency.${pct}`, label: `ours: end-to-end latency at ${pct}% of its maximum`, unit: 'ms', summary: sa, params: { offered: oursRate, sent: a.sent, achieved: a.achieved, exact: a.exact } },
        { key: `kspipeline.theirs.latency.${pct}`, label: `Kafka Streams: end-to-end latency at ${pct}% of its maximum`, unit: 'ms', summary: b.summary, params: { offered: theirsRate, sent: b.sent, achieved: b.achieved } },
      )
    }

    // Recovery: both under the same load (half the lower maximum) on the same history.
    const rate = Math.round(Math.min(oursMax, theirsMax) / 2)
    const ro = await recoverOurs(o, so, settings, rate)
    const rt = await recoverTheirs(o, s, settings, rate, ro.settledMs)
    const [rOurs, rTheirs] = [ro.kills, rt.kills]
    for (const kind of ['kill', 'stop'] as const) {
      const text = kind === 'kill' ? 'SIGKILL (Kafka Streams: no checkpoint under exactly-once, store wiped and restored)' : 'clean stop and restart (Kafka Streams: from its checkpoint)'
      const a = rOurs.filter((r) => r.kind === kind)
      const b = rTheirs.filter((r) => r.kind === kind)
      const sa = summarize(a.map((r) => r.firstOutput))
      const sb = summarize(b.map((r) => r.firstOutput))
      const restored = b.map((r) => r.restore?.records ?? 0).sort((x, y) => x - y)
      figures.push(
        { key: `kspipeline.ours.recover.${kind}`, label: `ours, an OpB shard's ${text.split(' (')[0]}: death → its first commit`, unit: 'ms', summary: sa, params: { kills: a.length, keys: o.keys, held: ro.historyCounted, load: rate, caughtUpP50: summarize(a.map((r) => r.caughtUp)).p50, caughtUpP95: summarize(a.map((r) => r.caughtUp)).p95 } },
        {
          key: `kspipeline.theirs.recover.${kind}`,
          label: `Kafka Streams, ${text}: death → first output`,
          unit: 'ms',
          summary: sb,
          params: { kills: b.length, keys: o.keys, historyCounted: rt.historyCounted, load: rate, caughtUpP50: summarize(b.map((r) => r.caughtUp)).p50, caughtUpP95: summarize(b.map((r) => r.caughtUp)).p95, restoredMedian: restored[Math.floor((restored.length - 1) / 2)] ?? 0, restoreMsP50: summarize(b.map((r) => r.restore?.ms ?? 0)).p50 },
        },
      )
      const rr = ratio(sa.p50, sb.p50)
      if (rr !== undefined) figures.push({ key: `kspipeline.ratio.recover.${kind}`, label: `time to recover p50, ours / Kafka Streams, ${kind === 'kill' ? 'SIGKILL' : 'clean stop'}`, unit: '×', value: rr, params: { p95: ratio(sa.p95, sb.p95) ?? 'n/a' } })
    }

    return {
      title: 'The whole pipeline side by side with Kafka Streams',
      method:
        `Raw ride events in, validated (refused ones to a dead-letter topic), counted per zone and minute, exactly-once, on the same broker and machine, one system at a time. Ours: OpA ×1 and OpB ×${o.shards}. Kafka Streams: bench/peers/kafka-streams with PIPELINE=whole, one JVM with ${o.shards} stream threads, OpA's validation written again in Java (the same fields, normalization and future-time bound), the valid events re-keyed by zone through a repartition topic of ${o.shards} partitions, then the same windowed count, exactly_once_v2, with a grace of ${GRACE_MS / 1000} s (ours closes a window ${OUR_CUTOFF_MS / 1000} s after its end: with that as its grace, its two validation tasks drifted apart in event time through the repartition topic while they drained, and it dropped about a third of the backlog as late; it emits no finals, so its grace costs it no latency), commit interval 100 ms` +
        (archived ? ', a class-data archive for a faster JVM start' : '') +
        `. Throughput: a backlog of ${o.backlog.toLocaleString('en')} raw events (0.5% malformed) drained by each, ${o.rounds} round(s), alternating which goes first, timed from ready (every worker serving; RUNNING) to done (OpB has counted every valid event; the application's committed offsets on its input and its repartition topic at their ends), median. ` +
        `Latency: ${o.seconds} s at ${o.levels.map((l) => `${Math.round(l * 100)}%`).join(', ')} of each one's own maximum, produce → count visible to a read_committed reader of the output (Kafka Streams' first ${WARMUP_MS / 1000} s left out for its JIT; ours are not). ` +
        `Recovery: each on a history of ${o.keys.toLocaleString('en')} live windows written as raw events (one partition, in event-time order; both keep windows ${RETENTION_MS / 86_400_000} days), under ${rate.toLocaleString('en')} events/s (half the lower maximum); ${o.kills} SIGKILLs, then ${o.kills} clean stops (SIGTERM, restarted once exited; after a clean stop Kafka Streams has a checkpoint, so its kills come first), 1–2 s apart after catching up; the first once our shards have each taken a full snapshot after the build, and as long after it for Kafka Streams. Ours: an OpB shard, shards in turn (OpA and the other shard keep running); time from the death to the shard's first committed transaction. Kafka Streams: its JVM (every task); time from the death to its first output record read_committed. Caught up: input lag back under 0.2 s of traffic. Ratios are ours / Kafka Streams.`,
      figures,
    }
  } catch (err) {
    keep = true
    throw new Error(`${err instanceof Error ? err.message : String(err)} (logs kept in ${dir})`, { cause: err })
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
}
