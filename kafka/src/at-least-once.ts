import { Admin, Producer } from '@platformatic/kafka'
import { chunkBySize } from './chunks.js'
import { MAX_SEND_BYTES, noteBaseOffsets, type OutgoingRecord, type SendResult } from './outgoing.js'
import { BatchSender, PRODUCE_RETRIES, PRODUCE_TIMEOUT_MS } from './raw-produce.js'
import { connection, refuseUnknownBrokers, type KafkaSettings } from './settings.js'
import type { BatchProducer } from './transactional.js'

/**
 * The same calls without transactions, only to measure what exactly-once
 * costs, configured as an at-least-once pipeline usually is: each batch is
 * sent (idempotent, acks=all) as it comes, and the input positions are
 * committed in the background after it, the newest replacing any not yet
 * sent. A crash before they land repeats the batch. Nothing is fenced: two
 * instances at once both write.
 */
export class AtLeastOnceProducer implements BatchProducer {
  readonly delivery = 'at-least-once' as const
  readonly #producer: Producer
  readonly #admin: Admin
  #batchOffsets: { groupId: string; offsets: { topic: string; partition: number; nextOffset: number }[] } | undefined
  /** Positions committed by the batches but not yet sent to the group, by group, then `topic:partition`. */
  readonly #unsent = new Map<string, Map<string, { topic: string; partition: number; offset: bigint }>>()
  #flushing: Promise<void> | undefined
  /** Batches encoded and sent as the transactional producer sends them, so the two differ by the transactions alone. */
  readonly #sender: BatchSender

  constructor(settings: KafkaSettings) {
    this.#producer = refuseUnknownBrokers(new Producer({ clientId: settings.clientId, ...connection(settings), idempotent: true, acks: -1, retries: 12, retryDelay: 100, timeout: 15_000 }))
    this.#admin = new Admin({ clientId: `${settings.clientId}-offsets`, ...connection(settings), retries: 10, retryDelay: 100 })
    this.#sender = new BatchSender(() => this.#producer, { transactionalId: null, timeoutMs: PRODUCE_TIMEOUT_MS, retries: PRODUCE_RETRIES })
  }

  get epoch(): number | undefined {
    return undefined
  }

  get fenced(): boolean {
    return false
  }

  async fence(): Promise<void> {}

  async begin(): Promise<void> {
    this.#batchOffsets = undefined
  }

  async send(records: OutgoingRecord[]): Promise<SendResult> {
    const baseOffsets = new Map<string, number>()
    if (records.length === 0) return { baseOffsets }
    // Without a transactional id the broker gives a new producer id each time.
    if (this.#sender.mustRegister) await this.#producer.initIdempotentProducer({})
    for (const chunk of chunkBySize(records, MAX_SEND_BYTES)) noteBaseOffsets(baseOffsets, await this.#sender.send(chunk))
    return { baseOffsets }
  }

  async sendOffsets(groupId: string, _coordinatorId: number, offsets: { topic: string; partition: number; nextOffset: number }[]): Promise<void> {
    this.#batchOffsets = { groupId, offsets }
  }

  async commit(): Promise<void> {
    const batch = this.#batchOffsets
    this.#batchOffsets = undefined
    if (!batch || batch.offsets.length === 0) return
    const group = this.#unsent.get(batch.groupId) ?? new Map<string, { topic: string; partition: number; offset: bigint }>()
    for (const o of batch.offsets) group.set(`${o.topic}:${o.partition}`, { topic: o.topic, partition: o.partition, offset: BigInt(o.nextOffset) })
    this.#unsent.set(batch.groupId, group)
    this.#flushing ??= this.#flush().finally(() => (this.#flushing = undefined))
  }

  /** Sends the newest positions until none are left; a failed commit is retried with the next batch's. */
  async #flush(): Promise<void> {
    while (this.#unsent.size > 0) {
      const [groupId, positions] = this.#unsent.entries().next().value!
      this.#unsent.delete(groupId)
      const byTopic = new Map<string, { partition: number; offset: bigint }[]>()
      for (const p of positions.values()) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), { partition: p.partition, offset: p.offset }])
      try {
        await this.#admin.alterConsumerGroupOffsets({ groupId, topics: [...byTopic].map(([name, partitionOffsets]) => ({ name, partitionOffsets })) })
      } catch {
        // Newer positions of the same partitions supersede these; older ones stay.
        const now = this.#unsent.get(groupId) ?? new Map()
        for (const [k, p] of positions) if (!now.has(k)) now.set(k, p)
        this.#unsent.set(groupId, now)
        return
      }
    }
  }

  async abort(): Promise<void> {
    this.#batchOffsets = undefined
  }

  async close(): Promise<void> {
    await this.#flushing
    if (this.#unsent.size > 0) await this.#flush()
    await Promise.allSettled([this.#producer.close(true), this.#admin.close()])
  }
}
