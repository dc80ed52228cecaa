import { setTimeout as sleep } from 'node:timers/promises'
import { Consumer, type Broker } from '@platformatic/kafka'
import { isStaleMetadata, TopicMissingError } from './errors.js'
import { decompress, rawFetch, wholeBatchBytes } from './raw-fetch.js'
import { committedBatches } from './read-committed.js'
import { decodeRecordBatches, type RecordHeader } from './record-batches.js'
import { connection, type KafkaSettings } from './settings.js'

/**
 * Reads are by direct assignment with raw fetches: no consumer group, so a
 * restart never waits on a session timeout or a rebalance.
 */

export interface ConsumedRecord {
  offset: number
  key: Buffer | null
  value: Buffer | null
  timestamp: number
  headers: readonly RecordHeader[]
}

export interface FetchResult {
  records: ConsumedRecord[]
  /** Offset to fetch next: after the last record or marker seen. */
  nextOffset: number
  /** End of what read_committed may read now (the last stable offset). */
  lastStableOffset: number
  highWatermark: number
}

const READ_COMMITTED = 1

/** Reads one partition from a given offset, read_committed, without joining a group. */
export class PartitionReader {
  readonly #consumer: Consumer
  #leader: { broker: Broker; topicId: string; epoch: number } | undefined

  constructor(
    settings: KafkaSettings,
    readonly topic: string,
    readonly partition: number,
  ) {
    // The group id is never joined; the client requires one.
    this.#consumer = new Consumer({
      clientId: settings.clientId,
      ...connection(settings),
      groupId: `${settings.clientId}-direct`,
      retries: 3,
      retryDelay: 200,
      timeout: 10_000,
    })
  }

  async #route(force = false): Promise<{ broker: Broker; topicId: string; epoch: number }> {
    if (this.#leader && !force) return this.#leader
    const md = await this.#consumer.metadata({ topics: [this.topic], forceUpdate: true })
    const t = md.topics.get(this.topic)
    const p = t?.partitions[this.partition]
    const broker = p ? md.brokers.get(p.leader) : undefined
    if (!t || !p || !broker) throw new TopicMissingError(`${this.topic}[${this.partition}]`)
    this.#leader = { broker, topicId: t.id, epoch: p.leaderEpoch }
    return this.#leader
  }

  async fetch(offset: number, opts: { maxWaitMs: number; maxBytes: number }): Promise<FetchResult> {
    let maxBytes = opts.maxBytes
    for (let attempt = 0; ; attempt++) {
      try {
        const route = await this.#route(attempt > 0)
        const connection = await this.#consumer.connections.get(route.broker)
        const partitions = await rawFetch.async(connection, opts.maxWaitMs, 1, maxBytes, READ_COMMITTED, 0, 0, [
          {
            topicId: route.topicId,
            partitions: [{ partition: this.partition, currentLeaderEpoch: route.epoch, fetchOffset: BigInt(offset), lastFetchedEpoch: -1, partitionMaxBytes: maxBytes }],
          },
        ], [], '')
        const part = partitions[0]
        if (!part) return { records: [], nextOffset: offset, lastStableOffset: offset, highWatermark: offset }
        const batches = part.records ? decodeRecordBatches(part.records, decompress) : []
        // The broker sends a first batch larger than the limit whole; should
        // one come back cut anyway, ask again for as many bytes as it has,
        // so a record larger than one fetch never stops the reader.
        const cut = batches.length === 0 ? wholeBatchBytes(part.records) : undefined
        if (cut !== undefined && cut > maxBytes) {
          maxBytes = cut
          attempt--
          continue
        }
        const records: ConsumedRecord[] = []
        for (const b of committedBatches(batches, part.abortedTransactions)) {
          for (const r of b.records) if (r.offset >= offset) records.push(r) // a batch may start before the offset asked for
        }
        const last = batches[batches.length - 1]
        const nextOffset = last ? Math.max(offset, Number(last.firstOffset) + last.lastOffsetDelta + 1) : offset
        return { records, nextOffset, lastStableOffset: Number(part.lastStableOffset), highWatermark: Number(part.highWatermark) }
      } catch (err) {
        if (attempt >= 20 || !isStaleMetadata(err)) throw err
        await sleep(Math.min(100 * 2 ** attempt, 1000))
      }
    }
  }

  /** The offset a read_committed reader can read up to now. */
  async endOffset(): Promise<number> {
    const offs = await this.#consumer.listOffsets({
      topics: [this.topic],
      partitions: { [this.topic]: [this.partition] },
      isolationLevel: READ_COMMITTED,
      timestamp: -1n,
    })
    return Number(offs.get(this.topic)?.[this.partition] ?? 0n)
  }

  async close(): Promise<void> {
    await this.#consumer.close(true)
  }
}

export class PartitionReadStalledError extends Error {
  constructor(
    topic: string,
    partition: number,
    readonly offset: number,
    end: number,
  ) {
    super(`reading ${topic}[${partition}] stalled at offset ${offset}, below the end offset ${end}`)
    this.name = 'PartitionReadStalledError'
  }
}

export interface RangeOptions {
  maxWaitMs: number
  maxBytes: number
  /** Fetches in a row that bring the reader no further (a leader moving, say) before PartitionReadStalledError. */
  maxStalls: number
}

/**
 * The committed records of one partition from `from` up to `end`, batch by
 * batch in offset order. The next fetch is in flight while the caller
 * handles a batch, so the broker reads while the caller writes. Aborted
 * records and transaction markers move the offset without yielding records.
 */
export async function* readRange(reader: PartitionReader, from: number, end: number, opts: RangeOptions): AsyncGenerator<ConsumedRecord[]> {
  const fetch = (off: number) => reader.fetch(off, { maxWaitMs: opts.maxWaitMs, maxBytes: opts.maxBytes })
  let off = from
  let stalls = 0
  let pending = off < end ? fetch(off) : undefined
  try {
    while (pending) {
      const r = await pending
      if (r.nextOffset <= off) {
        if (++stalls >= opts.maxStalls) throw new PartitionReadStalledError(reader.topic, reader.partition, off, end)
        pending = fetch(off)
        continue
      }
      stalls = 0
      off = r.nextOffset
      pending = off < end ? fetch(off) : undefined
      const last = r.records.at(-1)
      yield last === undefined || last.offset < end ? r.records : r.records.filter((x) => x.offset < end)
    }
  } finally {
    // A caller that stops early leaves no fetch to fail unobserved.
    await pending?.catch(() => undefined)
  }
}

/** Every committed record of one partition up to the end offset (the last stable offset) seen at the start: one consistent cut even while producers run. */
export async function readToEnd(settings: KafkaSettings, topic: string, partition: number, opts: RangeOptions = { maxWaitMs: 200, maxBytes: 8 << 20, maxStalls: 50 }): Promise<ConsumedRecord[]> {
  const reader = new PartitionReader(settings, topic, partition)
  try {
    const end = await reader.endOffset()
    const records: ConsumedRecord[] = []
    for await (const batch of readRange(reader, 0, end, opts)) records.push(...batch)
    return records
  } finally {
    await reader.close()
  }
}

/** What a read_committed reader can read now, per partition: where a follower of new records only starts. */
export async function endOffsets(settings: KafkaSettings, topic: string, partitions: number): Promise<number[]> {
  const readers = Array.from({ length: partitions }, (_, p) => new PartitionReader(settings, topic, p))
  try {
    return await Promise.all(readers.map((r) => r.endOffset()))
  } finally {
    await Promise.all(readers.map((r) => r.close()))
  }
}
