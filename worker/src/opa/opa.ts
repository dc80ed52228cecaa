import type { Logger } from 'pino'
import { deadLetter, encodeEvent, kafkaIdOf, ownedPartitions, transactionalIdOf, parseRawEvent, type RejectCode, zonePartition } from '@ridepulse/contracts'
import { RateOfCount } from '../core/rate.js'
import { kafkaSettings, type OpaConfig } from '../config.js'
import { runCommitLoop, transact, type CommitUnit } from '../commit-loop.js'
import { defaultProducer, type WorkerHooks } from '../hooks.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { committedOffsets, describeError, isRecordTooLarge, PartitionReader, type BatchProducer, type KafkaSettings, type OutgoingRecord } from '@ridepulse/kafka'
import type { Metrics } from '../metrics.js'

/**
 * OpA instance: validates and normalizes raw events, keys them by zone, and
 * in one transaction per interval writes them to the enriched topic, the
 * invalid ones to the dead-letter topic, and its input positions.
 */
export class OpaInstance implements CommitUnit {
  #phase: 'starting' | 'running' | 'stopped' | 'failed' = 'starting'
  #stopping = false
  #commits = 0
  #positions = new Map<number, number>()
  #coordinatorId = 0
  #lastError: string | undefined
  /** The longest original a dead letter keeps; 0 once the broker refused one (headers alone always fit). */
  #dlqValueLimit: number
  /** Events stamped too far ahead of their ingest time since the last log line about them. */
  #futureUnlogged = 0
  #futureExample: { partition: number; offset: number; reason: string } | undefined
  #futureLoggedAt = 0
  /** Dead letters committed by this instance since it started, and their rate. */
  #deadLetters = 0
  readonly #deadLetterRate = new RateOfCount()
  readonly #settings: KafkaSettings
  readonly producer: BatchProducer
  readonly #readers: Map<number, PartitionReader>
  readonly #group: string

  constructor(
    readonly cfg: OpaConfig,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly nowMs: () => number = Date.now,
    readonly hooks: WorkerHooks = {},
  ) {
    const transactionalId = transactionalIdOf(cfg, { role: 'opa', index: cfg.OPA_INDEX })
    this.#settings = kafkaSettings(cfg, transactionalId)
    this.producer = (hooks.producer ?? defaultProducer)(this.#settings, transactionalId)
    this.#group = `${kafkaIdOf(cfg)}-opa`
    this.#readers = new Map(ownedPartitions(cfg.ORDERS_PARTITIONS, cfg.OPA_INDEX, cfg.OPA_INSTANCES).map((p) => [p, new PartitionReader(this.#settings, cfg.TOPIC_ORDERS, p)]))
    this.#dlqValueLimit = cfg.DLQ_MAX_VALUE_BYTES
  }

  ready(): boolean {
    return this.#phase === 'running'
  }

  status() {
    // Nothing committed lately is a count that stands still: the rate falls as time passes.
    this.#deadLetterRate.note(this.nowMs(), this.#deadLetters)
    return {
      role: 'opa',
      pipeline: this.cfg.PIPELINE,
      index: this.cfg.OPA_INDEX,
      delivery: this.producer.delivery,
      phase: this.#phase,
      partitions: Object.fromEntries(this.#positions),
      commits: this.#commits,
      deadLetters: this.#deadLetters,
      deadLettersPerSecond: Math.round(this.#deadLetterRate.perSecond() * 1000) / 1000,
      lastError: this.#lastError ?? null,
    }
  }

  /** Fences any older instance (aborting its open transaction), then reads the committed positions. */
  async start(): Promise<void> {
    await this.producer.fence()
    const { offsets, coordinatorId } = await committedOffsets(this.#settings, this.#group, this.cfg.TOPIC_ORDERS, [...this.#readers.keys()])
    this.#positions = offsets
    this.#coordinatorId = coordinatorId
    this.#phase = 'running'
    this.log.info({ positions: Object.fromEntries(offsets) }, 'OpA running')
  }

  get stopping(): boolean {
    return this.#stopping
  }

  /** Runs commit intervals until stopped; after a failed one, it continues from the last committed positions. */
  async run(): Promise<void> {
    await runCommitLoop(this, this.log, this.metrics)
  }

  failed(err: unknown): void {
    this.#lastError = describeError(err)
    if (isRecordTooLarge(err) && this.#dlqValueLimit > 0) {
      // Only a dead letter can be large (an enriched event is bounded by
      // its schema): from now on they keep the headers, without the
      // original bytes, so no record can hold a partition up.
      this.log.error({ err, dlqMaxValueBytes: this.#dlqValueLimit }, 'the broker refused a record as too large; dead letters keep only their headers from now on')
      this.#dlqValueLimit = 0
    }
  }

  restart(): Promise<void> {
    return this.start()
  }

  interval(): Promise<void> {
    return this.#interval()
  }

  async #interval(): Promise<void> {
    if (this.#readers.size === 0) return sleep(this.cfg.COMMIT_INTERVAL_MS) // refused by the configuration; never spin
    const deadline = this.nowMs() + this.cfg.COMMIT_INTERVAL_MS
    const out: OutgoingRecord[] = []
    const next = new Map(this.#positions)
    const dead: Record<RejectCode, number> = { malformed: 0, 'future-event-time': 0 }
    let example: { partition: number; offset: number; reason: string } | undefined
    let read = 0
    // Partitions are fetched in turn; each waits at most its share of the interval.
    const share = Math.max(1, Math.floor(this.cfg.COMMIT_INTERVAL_MS / Math.max(1, this.#readers.size)))
    for (const [p, reader] of this.#readers) {
      const from = next.get(p) ?? 0
      const r = await reader.fetch(from, { maxWaitMs: Math.min(share, Math.max(0, deadline - this.nowMs())), maxBytes: 2 << 20 })
      for (const rec of r.records.slice(0, this.cfg.COMMIT_MAX_RECORDS)) {
        read++
        const parsed = parseRawEvent(rec.value, rec.timestamp, this.cfg.MAX_FUTURE_SKEW_MS)
        if (parsed.ok) {
          const e = parsed.event
          out.push({ topic: this.cfg.TOPIC_ENRICHED, partition: zonePartition(e.zone, this.cfg.SHARDS), key: e.zone, value: encodeEvent(e), timestamp: e.ts })
        } else {
          dead[parsed.code]++
          if (parsed.code === 'future-event-time') example ??= { partition: p, offset: rec.offset, reason: parsed.reason }
          const d = deadLetter({ topic: this.cfg.TOPIC_ORDERS, partition: p, offset: rec.offset, timestamp: rec.timestamp, key: rec.key, value: rec.value }, parsed, this.#dlqValueLimit)
          out.push({ topic: this.cfg.TOPIC_DLQ, partition: 0, key: d.key, value: d.value, headers: d.headers })
        }
        next.set(p, rec.offset + 1)
      }
      if (r.records.length <= this.cfg.COMMIT_MAX_RECORDS) next.set(p, Math.max(next.get(p) ?? 0, r.nextOffset))
    }
    const moved = [...next].filter(([p, o]) => o !== this.#positions.get(p))
    if (moved.length === 0) return

    const commitNo = ++this.#commits
    this.hooks.commitPoint?.('before-commit', commitNo)
    const positions = moved.map(([partition, nextOffset]) => ({ topic: this.cfg.TOPIC_ORDERS, partition, nextOffset }))
    await transact(this.producer, this.hooks, commitNo, out, { groupId: this.#group, coordinatorId: this.#coordinatorId, positions })
    this.#positions = next
    const dlq = dead.malformed + dead['future-event-time']
    this.metrics.transactions.inc({ outcome: 'committed' })
    this.metrics.recordsIn.inc(read)
    this.metrics.recordsOut.inc({ topic: this.cfg.TOPIC_ENRICHED }, out.length - dlq)
    this.metrics.recordsOut.inc({ topic: this.cfg.TOPIC_DLQ }, dlq)
    for (const [code, n] of Object.entries(dead)) if (n > 0) this.metrics.dlq.inc({ code }, n)
    this.#deadLetters += dlq
    this.#deadLetterRate.note(this.nowMs(), this.#deadLetters)
    this.#noteFutureEvents(dead['future-event-time'], example)
  }

  /** One log line at most every 10 s about events whose clock ran ahead, with how many and one of them. */
  #noteFutureEvents(count: number, example: { partition: number; offset: number; reason: string } | undefined): void {
    this.#futureUnlogged += count
    this.#futureExample ??= example
    const now = this.nowMs()
    if (this.#futureUnlogged === 0 || now - this.#futureLoggedAt < 10_000) return
    this.log.warn({ events: this.#futureUnlogged, example: this.#futureExample, maxFutureSkewMs: this.cfg.MAX_FUTURE_SKEW_MS }, 'events stamped ahead of their ingest time sent to the dead-letter topic')
    this.#futureUnlogged = 0
    this.#futureExample = undefined
    this.#futureLoggedAt = now
  }

  async stop(): Promise<void> {
    this.#stopping = true
  }

  async close(): Promise<void> {
    await this.producer.abort().catch((err: unknown) => this.log.warn({ err }, 'abort on close failed'))
    await Promise.allSettled([this.producer.close(), ...[...this.#readers.values()].map((r) => r.close())])
    this.#phase = 'stopped'
  }
}
