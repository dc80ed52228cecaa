import { Admin, compressionsAlgorithmsByBitmask, Consumer, createAPI, endTxnV4, fetchV17, findCoordinatorV6, FindCoordinatorKeyTypes, NetworkError, Producer, ResponseError, type Broker, type Reader } from '@platformatic/kafka'
import { chunkBySize } from './chunks.js'
import { TRANSACTION_TIMEOUT_MS } from './limits.js'
import { committedBatches } from './read-committed.js'
import { decodeRecordBatches, type Decompress, type RecordHeader } from './record-batches.js'

/**
 * The only module (with its siblings) that talks to Kafka. Reads are by
 * direct assignment with raw fetches: no consumer group, so a restart never
 * waits on a session timeout or a rebalance.
 */

export interface KafkaSettings {
  brokers: string[]
  clientId: string
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string }
  /** Replication factor of the topics this process creates; -1 takes the broker's default. */
  replicationFactor?: number
}

/**
 * The client looks brokers up in its cluster metadata by id (a transaction
 * or group coordinator, say) and hands what it finds to its connection
 * pool, which throws out of a callback, taking the process down, when the
 * broker is not there: a killed broker leaves the metadata before the
 * coordinator moves. Made into a failed call instead, the operation fails
 * and its caller goes through its ordinary recovery.
 */
function refuseUnknownBrokers<C extends { connections: { get: (broker: Broker, callback?: never) => unknown } }>(client: C): C {
  const pool = client.connections as unknown as { get: (broker: Broker | undefined, callback?: (err: Error | null, c?: unknown) => void) => unknown }
  const get = pool.get.bind(pool)
  pool.get = (broker, callback) => {
    if (broker) return get(broker, callback)
    const err = new NetworkError('a broker named by the cluster metadata is no longer in it (it left the cluster)')
    if (callback) return callback(err)
    return Promise.reject(err)
  }
  return client
}

/** Where and as whom every client of this module connects. */
const connection = (s: KafkaSettings) => ({ bootstrapBrokers: s.brokers, ...(s.sasl ? { sasl: s.sasl } : {}) })

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

type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>

export class ProducerFencedError extends Error {
  constructor(transactionalId: string, options?: { cause?: unknown }) {
    super(`producer ${transactionalId} was fenced: a newer process took the transactional id over, or the coordinator aborted a transaction left open past the transaction timeout`, options)
    this.name = 'ProducerFencedError'
  }
}

export class TopicMissingError extends Error {
  constructor(topic: string) {
    super(`topic ${topic} does not exist`)
    this.name = 'TopicMissingError'
  }
}

/** An error and those inside it (the client's `errors` lists and `cause` chains), a few levels deep. */
function errorsIn(err: unknown): object[] {
  const found: object[] = []
  const walk = (e: unknown, depth: number): void => {
    if (!e || typeof e !== 'object' || depth > 4) return
    found.push(e)
    const inner = (e as { errors?: unknown[] }).errors
    if (Array.isArray(inner)) for (const i of inner) walk(i, depth + 1)
    walk((e as { cause?: unknown }).cause, depth + 1)
  }
  walk(err, 0)
  return found
}

/** The messages of an error and those inside it, each with its protocol error name when it has one. */
const errorText = (err: unknown): string =>
  errorsIn(err)
    .flatMap((e) => {
      if (!(e instanceof Error)) return []
      const id = (e as { apiId?: unknown }).apiId
      return [typeof id === 'string' ? `${e.message} [${id}]` : e.message]
    })
    .join(' | ')

export const isFencingError = (err: unknown): boolean =>
  /newer producer with the same transactionalId|old epoch|PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/i.test(errorText(err))

const isStaleMetadata = (err: unknown): boolean =>
  /NOT_LEADER|leader|UNKNOWN_TOPIC_ID|FENCED_LEADER_EPOCH|UNKNOWN_LEADER_EPOCH|ECONNREFUSED|ECONNRESET|closed|Network/i.test(errorText(err))

export const describeError = errorText

interface RawFetchPartition {
  partitionIndex: number
  errorCode: number
  highWatermark: bigint
  lastStableOffset: bigint
  abortedTransactions: { producerId: bigint; firstOffset: bigint }[]
  /** The partition's record batches, undecoded. */
  records: Buffer | undefined
}

/**
 * Fetch v17's response, read like the client reads it except for the
 * records: they stay bytes, decoded by `decodeRecordBatches`.
 */
function parseRawFetch(_correlationId: number, apiKey: number, apiVersion: number, reader: Reader): RawFetchPartition[] {
  const errors: [string, [number, null]][] = []
  reader.readInt32() // throttle_time_ms
  const errorCode = reader.readInt16()
  if (errorCode !== 0) errors.push(['', [errorCode, null]])
  reader.readInt32() // session_id
  const partitions: RawFetchPartition[] = []
  reader.readArray((r, i) => {
    r.readUUID()
    r.readArray((r, j) => {
      const p: RawFetchPartition = {
        partitionIndex: r.readInt32(),
        errorCode: r.readInt16(),
        highWatermark: r.readInt64(),
        lastStableOffset: r.readInt64(),
        abortedTransactions: [],
        records: undefined,
      }
      r.readInt64() // log_start_offset
      p.abortedTransactions = r.readArray((r) => ({ producerId: r.readInt64(), firstOffset: r.readInt64() }))
      r.readInt32() // preferred_read_replica
      if (p.errorCode !== 0) errors.push([`/responses/${i}/partitions/${j}`, [p.errorCode, null]])
      const size = r.readUnsignedVarInt() - 1 // COMPACT_RECORDS: length + 1, 0 for null
      if (size > 0) {
        p.records = r.buffer.slice(r.position, r.position + size)
        r.skip(size)
      }
      partitions.push(p)
    })
  })
  if (errors.length) throw new ResponseError(apiKey, apiVersion, Object.fromEntries(errors), partitions)
  return partitions
}

// The records of a fetch are decoded here, not by the client (see
// record-batches.ts); the request itself is the client's Fetch v17 (Kafka 3.8+).
const rawFetch = createAPI<Parameters<typeof fetchV17.createRequest>, RawFetchPartition[]>(1, 17, fetchV17.createRequest, parseRawFetch)

const decompress: Decompress = (codec, data) => {
  const algorithm = compressionsAlgorithmsByBitmask[codec]
  if (!algorithm) throw new Error(`record batch compressed with unknown codec ${codec}`)
  return algorithm.decompressSync(data)
}

/** The size of the record batch that `records` begins with, when they hold less than all of it. */
function wholeBatchBytes(records: Buffer | undefined): number | undefined {
  if (!records || records.length < 12) return undefined
  const size = 12 + records.readInt32BE(8)
  return size > records.length ? size : undefined
}

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

/** Reads the positions a group committed (through transactions), and where its coordinator is. */
export async function committedOffsets(settings: KafkaSettings, groupId: string, topic: string, partitions: number[]): Promise<{ offsets: Map<number, number>; coordinatorId: number }> {
  const consumer = refuseUnknownBrokers(new Consumer({ clientId: `${settings.clientId}-offsets`, ...connection(settings), groupId, retries: 10, retryDelay: 300 }))
  try {
    const coordinatorId = await consumer.findGroupCoordinator()
    const res = await consumer.listCommittedOffsets({ topics: [{ topic, partitions }] })
    const offsets = new Map<number, number>()
    const list = res.get(topic) ?? []
    for (const p of partitions) {
      const o = list[p]
      offsets.set(p, o !== undefined && o >= 0n ? Number(o) : 0)
    }
    return { offsets, coordinatorId }
  } finally {
    await consumer.close(true)
  }
}

export interface OutgoingRecord {
  topic: string
  partition: number
  key?: Buffer | string
  value: Buffer | null
  timestamp?: number
  headers?: readonly (readonly [string, Buffer])[]
}

const toMessage = (r: OutgoingRecord) => ({
  topic: r.topic,
  partition: r.partition,
  key: typeof r.key === 'string' ? Buffer.from(r.key) : r.key,
  value: r.value ?? undefined,
  timestamp: r.timestamp === undefined ? undefined : BigInt(r.timestamp),
  ...(r.headers?.length ? { headers: new Map(r.headers.map(([k, v]) => [Buffer.from(k), v])) } : {}),
})

/** Half the broker's default `max.message.bytes`: room for batch headers and compression's worst case. */
const MAX_SEND_BYTES = 512 * 1024

/** The first offset each partition got in a send made of several calls. */
function noteBaseOffsets(into: Map<string, number>, offsets: readonly { topic: string; partition: number; offset: bigint | number }[] | undefined): void {
  for (const o of offsets ?? []) {
    const key = `${o.topic}:${o.partition}`
    if (!into.has(key)) into.set(key, Number(o.offset))
  }
}

export interface SendResult {
  /** Base offset of the records sent, per `topic:partition`. */
  baseOffsets: Map<string, number>
}

/** The protocol error names (PRODUCER_FENCED, …) anywhere in an error from the client. */
const protocolErrorIds = (err: unknown): string[] => errorsIn(err).flatMap((e) => {
  const id = (e as { apiId?: unknown }).apiId
  return typeof id === 'string' ? [id] : []
})

/** The broker refused a record or a batch as larger than the topic allows. */
export const isRecordTooLarge = (err: unknown): boolean => protocolErrorIds(err).some((id) => id === 'MESSAGE_TOO_LARGE' || id === 'RECORD_LIST_TOO_LARGE')

/** EndTxn answers that mean another process owns the transactional id. */
const FENCED_ON_END = new Set(['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING'])
/**
 * EndTxn answers that mean the id is ours and nothing of ours is left open:
 * the last transaction was committed (or is being), or is being aborted.
 */
const SETTLED_ON_END = new Set(['INVALID_TXN_STATE', 'CONCURRENT_TRANSACTIONS'])

/**
 * Aborts the transaction `identity` may have left open, at the id's
 * coordinator, which checks the epoch first and changes nothing when it is
 * stale. Throws ProducerFencedError when another process owns the id.
 */
async function abortOwnTransaction(settings: KafkaSettings, transactionalId: string, identity: { producerId: bigint; epoch: number }): Promise<void> {
  const admin = new Admin({ clientId: `${settings.clientId}-end`, ...connection(settings), retries: 3, retryDelay: 200, timeout: 10_000 })
  try {
    const md = await admin.metadata({ topics: [], forceUpdate: true })
    const bootstrap = md.brokers.values().next().value
    if (!bootstrap) throw new Error('the cluster metadata names no broker')
    const found = await findCoordinatorV6.api.async(await admin.connections.get(bootstrap), FindCoordinatorKeyTypes.TRANSACTION, [transactionalId])
    const coordinator = found.coordinators.find((c) => c.key === transactionalId)
    if (!coordinator || coordinator.errorCode !== 0) throw new Error(`no transaction coordinator for ${transactionalId} yet (error code ${coordinator?.errorCode ?? 'none'})`)
    const broker = md.brokers.get(coordinator.nodeId) ?? { host: coordinator.host, port: coordinator.port }
    try {
      await endTxnV4.api.async(await admin.connections.get(broker), transactionalId, identity.producerId, identity.epoch, false)
    } catch (err) {
      const ids = protocolErrorIds(err)
      if (ids.some((id) => FENCED_ON_END.has(id))) throw new ProducerFencedError(transactionalId, { cause: err })
      if (ids.length > 0 && ids.every((id) => SETTLED_ON_END.has(id))) return
      throw err
    }
  } finally {
    await admin.close()
  }
}

/**
 * A transactional producer bound to one unit of ownership. `begin()` on a new
 * instance bumps the epoch: any older instance with the same id is fenced and
 * its open transaction aborted.
 */
export class TxnProducer {
  #producer: Producer
  #tx: Transaction | undefined
  /** Something was sent in the open transaction, so the broker knows it. */
  #sent = false
  /** The producer id and epoch this process was last given, once it has been. */
  #identity: { producerId: bigint; epoch: number } | undefined
  /** Told once that another process owns the id: for good, nothing is sent again. */
  #fenced = false

  constructor(
    private readonly settings: KafkaSettings,
    readonly transactionalId: string,
  ) {
    this.#producer = this.#client(-1n, -1)
  }

  /**
   * A client whose first InitProducerId carries `producerId`/`epoch`: -1/-1
   * takes the transactional id over (fencing any older process); this
   * process's own id and epoch resume it, which the coordinator refuses with
   * PRODUCER_FENCED once another process has taken the id.
   */
  #client(producerId: bigint, producerEpoch: number): Producer {
    return refuseUnknownBrokers(new Producer({
      clientId: this.settings.clientId,
      ...connection(this.settings),
      transactionalId: this.transactionalId,
      // The client's default (0/0) is refused as fenced whenever the id's
      // producer id is not 0: say what we mean.
      producerId,
      producerEpoch,
      idempotent: true,
      acks: -1,
      retries: 12,
      // The next transaction's first request often meets CONCURRENT_TRANSACTIONS
      // while the broker writes the previous commit's markers: retry fast.
      retryDelay: (_client, _op, attempt) => Math.min(5 * 2 ** attempt, 1000),
      // The transaction timeout (the client also sends it as a produce's
      // wait for acknowledgements).
      timeout: TRANSACTION_TIMEOUT_MS,
    }))
  }

  get epoch(): number | undefined {
    return this.#producer.producerEpoch
  }

  /** Whether a coordinator or partition leader has said another process owns the id. */
  get fenced(): boolean {
    return this.#fenced
  }

  async #wrap<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#fenced) throw new ProducerFencedError(this.transactionalId)
    try {
      return await fn()
    } catch (err) {
      if (err instanceof ProducerFencedError || isFencingError(err)) {
        this.#fenced = true
        throw new ProducerFencedError(this.transactionalId, { cause: err })
      }
      throw err
    }
  }

  /**
   * Registers the producer with its transaction coordinator. The first time,
   * it takes the transactional id over and fences older processes. After a
   * failure it resumes with this process's id and epoch from a fresh client
   * (a transaction that failed half-way can leave the client's own state
   * stuck), which aborts whatever transaction was left open.
   *
   * Resuming must never fence the owner. Kafka's coordinator reads an
   * InitProducerId carrying a stale epoch of the current producer id as a
   * fence whenever a transaction is open, and aborts the owner's transaction.
   * It would also fence this process itself if its own transaction were still
   * open. So a producer that was ever told it is fenced never registers
   * again, and any other first ends its open transaction with an EndTxn that
   * the coordinator checks against the current epoch: refused means another
   * process owns the id (ProducerFencedError), accepted means the id was ours
   * an instant ago and nothing of ours is open any more.
   */
  async fence(): Promise<void> {
    if (this.#fenced) throw new ProducerFencedError(this.transactionalId)
    const identity = this.#identity
    if (identity) {
      await this.#wrap(() => abortOwnTransaction(this.settings, this.transactionalId, identity))
      const old = this.#producer
      this.#producer = this.#client(identity.producerId, identity.epoch)
      try {
        await old.close(true)
      } catch {
        // Only its connections go: the broker's side was settled just above.
      }
    }
    this.#tx = undefined
    await this.#wrap(async () => {
      // InitProducerId runs with the first transaction; one with nothing sent
      // is only dropped locally (the broker refuses to end an empty one).
      const tx = await this.#producer.beginTransaction()
      await tx.cancel()
    })
    const producerId = this.#producer.producerId
    const epoch = this.#producer.producerEpoch
    if (producerId !== undefined && epoch !== undefined) this.#identity = { producerId, epoch }
  }

  async begin(): Promise<void> {
    this.#tx = await this.#wrap(() => this.#producer.beginTransaction())
    this.#sent = false
  }

  async send(records: OutgoingRecord[]): Promise<SendResult> {
    const tx = this.#tx
    if (!tx) throw new Error('send outside a transaction')
    const baseOffsets = new Map<string, number>()
    if (records.length === 0) return { baseOffsets }
    this.#sent = true
    for (const chunk of chunkBySize(records, MAX_SEND_BYTES)) {
      const res = await this.#wrap(() => tx.send({ messages: chunk.map(toMessage) }))
      noteBaseOffsets(baseOffsets, res.offsets)
    }
    return { baseOffsets }
  }

  /**
   * Commits input positions to a consumer group inside the transaction, so
   * they become visible exactly when the output does. Nobody joins the group:
   * the positions are for restarts and for ordinary lag tools.
   */
  async sendOffsets(groupId: string, coordinatorId: number, offsets: { topic: string; partition: number; nextOffset: number }[]): Promise<void> {
    const tx = this.#tx
    if (!tx) throw new Error('sendOffsets outside a transaction')
    if (offsets.length === 0) return
    this.#sent = true
    await this.#wrap(async () => {
      await tx.addConsumer({ groupId } as unknown as Parameters<Transaction['addConsumer']>[0])
      for (const o of offsets) {
        // The client commits `offset + 1`, as if handed the last record consumed.
        const consumed = { topic: o.topic, partition: o.partition, offset: BigInt(o.nextOffset - 1), metadata: { consumer: { groupId, generationId: -1, memberId: '', coordinatorId } } }
        await tx.addOffset(consumed as unknown as Parameters<Transaction['addOffset']>[0])
      }
    })
  }

  async commit(): Promise<void> {
    const tx = this.#tx
    this.#tx = undefined
    if (!tx) throw new Error('commit outside a transaction')
    await this.#wrap(() => (this.#sent ? tx.commit() : tx.cancel()))
  }

  async abort(): Promise<void> {
    const tx = this.#tx
    this.#tx = undefined
    if (tx && !tx.completed) await this.#wrap(() => (this.#sent ? tx.abort() : tx.cancel()))
  }

  async close(): Promise<void> {
    await this.#producer.close(true)
  }
}

/** What OpA and OpB need of a producer: batches that commit with their input positions. */
export type BatchProducer = Pick<TxnProducer, 'epoch' | 'fenced' | 'fence' | 'begin' | 'send' | 'sendOffsets' | 'commit' | 'abort' | 'close'>

/**
 * The same calls without transactions, only to measure what exactly-once
 * costs, configured as an at-least-once pipeline usually is: each batch is
 * sent (idempotent, acks=all) as it comes, and the input positions are
 * committed in the background after it, the newest replacing any not yet
 * sent. A crash before they land repeats the batch. Nothing is fenced: two
 * instances at once both write.
 */
export class AtLeastOnceProducer implements BatchProducer {
  readonly #producer: Producer
  readonly #admin: Admin
  #batchOffsets: { groupId: string; offsets: { topic: string; partition: number; nextOffset: number }[] } | undefined
  /** Positions committed by the batches but not yet sent to the group, by group, then `topic:partition`. */
  readonly #unsent = new Map<string, Map<string, { topic: string; partition: number; offset: bigint }>>()
  #flushing: Promise<void> | undefined

  constructor(settings: KafkaSettings) {
    this.#producer = refuseUnknownBrokers(new Producer({ clientId: settings.clientId, ...connection(settings), idempotent: true, acks: -1, retries: 12, retryDelay: 100, timeout: 15_000 }))
    this.#admin = new Admin({ clientId: `${settings.clientId}-offsets`, ...connection(settings), retries: 10, retryDelay: 100 })
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
    for (const chunk of chunkBySize(records, MAX_SEND_BYTES)) {
      const res = await this.#producer.send({ messages: chunk.map(toMessage) })
      noteBaseOffsets(baseOffsets, res.offsets)
    }
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

/** A plain (non-transactional, idempotent) producer: the generator's. */
export class PlainProducer {
  readonly #producer: Producer

  constructor(settings: KafkaSettings) {
    this.#producer = refuseUnknownBrokers(new Producer({ clientId: settings.clientId, ...connection(settings), idempotent: true, acks: -1, retries: 10, retryDelay: 200 }))
  }

  async send(records: OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return
    await this.#producer.send({
      messages: records.map(toMessage),
    })
  }

  async close(): Promise<void> {
    await this.#producer.close(true)
  }
}

export interface TopicSpec {
  name: string
  partitions: number
  /** Topic configs it is created with. */
  config?: Record<string, string>
}

/** Creates missing topics; an existing topic with a different partition count is an error naming it. */
export async function ensureTopics(settings: KafkaSettings, specs: TopicSpec[]): Promise<void> {
  const admin = new Admin({ clientId: `${settings.clientId}-admin`, ...connection(settings), retries: 10, retryDelay: 300 })
  try {
    const existing = new Set(await admin.listTopics())
    const missing = specs.filter((s) => !existing.has(s.name))
    for (const s of missing) {
      const configs = Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value }))
      try {
        await admin.createTopics({ topics: [s.name], partitions: s.partitions, replicas: settings.replicationFactor ?? -1, configs })
      } catch (err) {
        if (!/already exists/i.test(errorText(err))) throw err
      }
    }
    const md = await admin.metadata({ topics: specs.map((s) => s.name), forceUpdate: true })
    for (const s of specs) {
      const have = md.topics.get(s.name)?.partitionsCount
      if (have !== s.partitions) throw new Error(`topic ${s.name} has ${have ?? 0} partitions, the configuration expects ${s.partitions}`)
    }
  } finally {
    await admin.close()
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
