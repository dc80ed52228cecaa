import { decodeOutput, windowStart, type OutputRecord } from '@ridepulse/contracts'
import { endOffsets, TopicFollower, type KafkaSettings } from '@ridepulse/kafka'
import type { GeneratedRecord } from './generator.js'
import { waitUntil } from './wait.js'

/** A window's running total as read off an output topic (ours, or a peer's), keyed by zone and window. */
export interface WindowTotal {
  key: string
  total: number
  /** Our output record, when it is ours. */
  record?: OutputRecord
}
export type Decode = (key: Buffer | null, value: Buffer) => WindowTotal | undefined

export const windowTotalKey = (zone: string, windowStart: number): string => `${zone}|${windowStart}`

/** Our output records: a window's total is its four counts added up. A record that does not decode is undefined. */
export const decodeOurs: Decode = (_key, value) => {
  let o: OutputRecord
  try {
    o = decodeOutput(value)
  } catch {
    return undefined
  }
  return { key: windowTotalKey(o.zone, o.windowStart), total: o.requested + o.matched + o.completed + o.cancelled, record: o }
}

/**
 * Follows an output topic read_committed, as a dashboard would: the newest
 * record and total of every zone and window, their sum, when the first
 * record showed up, and every growth of a total (for latency).
 */
export class OutputFollower {
  readonly totals = new Map<string, number>()
  /** Our newest record of every zone and window (highest revision). */
  readonly latest = new Map<string, OutputRecord>()
  sum = 0
  firstAt: number | undefined
  /** Records that did not decode. */
  skipped = 0
  readonly #settings: KafkaSettings
  #follower: TopicFollower | undefined

  constructor(
    settings: KafkaSettings,
    readonly topic: string,
    readonly partitions: number,
    private readonly decode: Decode = decodeOurs,
    private readonly onGrowth?: (key: string, grew: number, atMs: number) => void,
  ) {
    this.#settings = settings
  }

  /** What a read_committed reader can read now, per partition: where a follower of new records only starts. */
  ends(): Promise<number[]> {
    return endOffsets(this.#settings, this.topic, this.partitions)
  }

  /** Follows from the start of each partition, or from `from`. */
  start(from?: number[]): this {
    this.#follower = new TopicFollower(this.#settings, this.topic, this.partitions, (_p, records) => {
      const now = Date.now()
      for (const rec of records) {
        if (!rec.value) continue
        this.firstAt ??= now
        const o = this.decode(rec.key, rec.value)
        if (!o) {
          this.skipped++
          continue
        }
        if (o.record && (this.latest.get(o.key)?.rev ?? 0) < o.record.rev) this.latest.set(o.key, o.record)
        const grew = o.total - (this.totals.get(o.key) ?? 0)
        if (grew <= 0) continue
        this.totals.set(o.key, o.total)
        this.sum += grew
        this.onGrowth?.(o.key, grew, now)
      }
    }, { maxWaitMs: 20, ...(from ? { from } : {}) }).start()
    return this
  }

  /** Resolves with the time `done()` first held; rejects when `trouble()` names a problem or the time is up. */
  async until(what: string, done: () => boolean, timeoutMs: number, trouble: () => string | undefined = () => undefined): Promise<number> {
    return waitUntil(what, done, { timeoutMs, everyMs: 10, trouble, detail: () => `output total ${this.sum}` })
  }

  async stop(): Promise<void> {
    await this.#follower?.close()
  }
}

/**
 * Produce time → visible to a read_committed reader of the output, per
 * event: the events of a zone and window are taken to show up in the order
 * they were produced, so a window whose total grows by k retires its k
 * oldest produce times. Events produced before `fromMs` (a warm-up) are
 * retired but not counted.
 */
export class LatencyTracker {
  readonly #pending = new Map<string, number[]>()
  readonly samples: number[] = []

  constructor(private readonly fromMs = 0) {}

  /** One produced event per key (a key twice for two events). */
  produced(keys: Iterable<string>, atMs: number): void {
    for (const key of keys) {
      const q = this.#pending.get(key)
      if (q) q.push(atMs)
      else this.#pending.set(key, [atMs])
    }
  }

  /** The samples so far, handed over and forgotten (a long run keeps them a minute at a time). */
  take(): number[] {
    return this.samples.splice(0)
  }

  visible(key: string, grew: number, atMs: number): void {
    for (const producedAt of (this.#pending.get(key) ?? []).splice(0, grew)) if (producedAt >= this.fromMs) this.samples.push(atMs - producedAt)
  }
}

/**
 * A pipeline's end-to-end latency, event by event: from the event handed
 * to the producer to its count being visible to a read_committed reader of
 * the output (see LatencyTracker).
 */
export class OutputLatency {
  readonly tracker: LatencyTracker
  readonly follower: OutputFollower

  /** `decode`: how the output is read, ours unless told (a peer's output keyed by zone and window); events produced before `fromMs` are left out (a warm-up). */
  constructor(settings: KafkaSettings, topic: string, partitions: number, private readonly windowMs: number, decode: Decode = decodeOurs, fromMs = 0) {
    this.tracker = new LatencyTracker(fromMs)
    this.follower = new OutputFollower(settings, topic, partitions, decode, (k, grew, at) => this.tracker.visible(k, grew, at))
  }

  start(): this {
    this.follower.start()
    return this
  }

  /** A batch the load generator sent at `atMs`: its valid events are waited for. */
  produced(batch: readonly GeneratedRecord[], atMs: number): void {
    this.tracker.produced(batch.flatMap((r) => (r.valid ? [windowTotalKey(r.event.zone, windowStart(r.event.ts, this.windowMs))] : [])), atMs)
  }

  get samples(): number[] {
    return this.tracker.samples
  }

  /** Events seen counted so far. */
  get counted(): number {
    return this.follower.sum
  }

  async stop(): Promise<void> {
    await this.follower.stop()
  }
}
