import type { Logger } from 'pino'
import { deadLetter, encodeEvent, ownedPartitions, parseRawEvent, type RejectCode, zonePartition } from '@ridepulse/contracts'
import { kafkaSettings, type OpaConfig } from '../config.js'
import { faultInjector } from '../fault.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { committedOffsets, describeError, isRecordTooLarge, PartitionReader, AtLeastOnceProducer, TxnProducer, type BatchProducer, type KafkaSettings, type OutgoingRecord } from '@ridepulse/kafka'
import type { Metrics } from '../metrics.js'

/**
 * OpA instance: validates and normalizes raw events, keys them by zone, and
 * in one transaction per interval writes them to the enriched topic, the
 * invalid ones to the dead-letter topic, and its input positions.
 */
export class OpaInstance {
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
  readonly #settings: KafkaSettings
  readonly #producer: BatchProducer
  readonly #readers: Map<number, PartitionReader>
  readonly #group: string
  readonly #fault: ReturnType<typeof faultInjector>

  constructor(
    readonly cfg: OpaConfig,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly nowMs: () => number = Date.now,
  ) {
    this.#settings = kafkaSettings(cfg, `${cfg.PIPELINE}-opa-${cfg.OPA_INDEX}`)
    this.#producer = cfg.DELIVERY === 'exactly-once' ? new TxnProducer(this.#settings, `${cfg.PIPELINE}-opa-${cfg.OPA_INDEX}`) : new AtLeastOnceProducer(this.#settings)
    this.#group = `${cfg.PIPELINE}-opa`
    this.#readers = new Map(ownedPartitions(cfg.ORDERS_PARTITIONS, cfg.OPA_INDEX, cfg.OPA_INSTANCES).map((p) => [p, new PartitionReader(this.#settings, cfg.TOPIC_ORDERS, p)]))
    this.#fault = faultInjector(cfg.FAULT)
    this.#dlqValueLimit = cfg.DLQ_MAX_VALUE_BYTES
  }

  ready(): boolean {
    return this.#phase === 'running'
  }

  status() {
    return {
      role: 'opa',
      pipeline: this.cfg.PIPELINE,
      index: this.cfg.OPA_INDEX,
      delivery: this.cfg.DELIVERY,
      phase: this.#phase,
      partitions: Object.fromEntries(this.#positions),
      commits: this.#commits,
      lastError: this.#lastError ?? null,
    }
  }

  /** Fences any older instance (aborting its open transaction), then reads the committed positions. */
  async start(): Promise<void> {
    await this.#producer.fence()
    const { offsets, coordinatorId } = await committedOffsets(this.#settings, this.#group, this.cfg.TOPIC_ORDERS, [...this.#readers.keys()])
    this.#positions = offsets
    this.#coordinatorId = coordinatorId
    this.#phase = 'running'
    this.log.info({ positions: Object.fromEntries(offsets) }, 'OpA running')
  }

  async run(): Promise<void> {
    while (!this.#stopping) {
      try {
        await this.#interval()
      } catch (err) {
        if (this.#stopping) break
        this.#lastError = describeError(err)
        this.metrics.transactions.inc({ outcome: 'aborted' })
        if (this.#producer.fenced) {
          // Another instance owns these partitions now (or the coordinator
          // timed our transaction out). Registering again could abort the
          // owner's open transaction (see TxnProducer.fence): stop.
          this.log.error({ err }, 'producer fenced; stopping without registering again')
          throw err
        }
        if (isRecordTooLarge(err) && this.#dlqValueLimit > 0) {
          // Only a dead letter can be large (an enriched event is bounded by
          // its schema): from now on they keep the headers, without the
          // original bytes, so no record can hold a partition up.
          this.log.error({ err, dlqMaxValueBytes: this.#dlqValueLimit }, 'the broker refused a record as too large; dead letters keep only their headers from now on')
          this.#dlqValueLimit = 0
        }
        await this.#producer.abort().catch((e: unknown) => this.log.warn({ err: e }, 'abort failed'))
        // start() ends what is still open with this process's epoch; if
        // another instance took over meanwhile, it throws and we exit.
        this.log.error({ err }, 'interval failed; continuing from the last committed positions')
        for (let attempt = 0; !this.#stopping; attempt++) {
          await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5000)))
          try {
            await this.start()
            break
          } catch (startErr) {
            if ((startErr as Error).name === 'ProducerFencedError') throw startErr
            this.log.warn({ err: startErr, attempt }, 'restart attempt failed; retrying')
          }
        }
      }
    }
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
    this.#fault('before-commit', commitNo)
    await this.#producer.begin()
    await this.#producer.send(out)
    await this.#producer.sendOffsets(this.#group, this.#coordinatorId, moved.map(([partition, nextOffset]) => ({ topic: this.cfg.TOPIC_ORDERS, partition, nextOffset })))
    this.#fault('during-commit', commitNo)
    await this.#producer.commit()
    this.#fault('after-commit', commitNo)
    this.#positions = next
    const dlq = dead.malformed + dead['future-event-time']
    this.metrics.transactions.inc({ outcome: 'committed' })
    this.metrics.recordsIn.inc(read)
    this.metrics.recordsOut.inc({ topic: this.cfg.TOPIC_ENRICHED }, out.length - dlq)
    this.metrics.recordsOut.inc({ topic: this.cfg.TOPIC_DLQ }, dlq)
    for (const [code, n] of Object.entries(dead)) if (n > 0) this.metrics.dlq.inc({ code }, n)
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
    await this.#producer.abort().catch((err: unknown) => this.log.warn({ err }, 'abort on close failed'))
    await Promise.allSettled([this.#producer.close(), ...[...this.#readers.values()].map((r) => r.close())])
    this.#phase = 'stopped'
  }
}
