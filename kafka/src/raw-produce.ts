import { setTimeout as sleep } from 'node:timers/promises'
import { createAPI, produceV11, Writer, type Broker, type ClusterMetadata, type Producer } from '@platformatic/kafka'
import { errorText, isStaleMetadata } from './errors.js'
import type { OutgoingRecord } from './outgoing.js'
import { encodeRecordBatch, nextSequence } from './record-batch-writer.js'

/** One partition's records, encoded (`encodeRecordBatch`). */
export interface PartitionBatch {
  topic: string
  partition: number
  batch: Buffer
}

type ProduceResponse = ReturnType<typeof produceV11.parseResponse>

/** Produce v11 (Kafka 2.8+) around batches already encoded: the request's own fields, then each batch's bytes as they are. */
function createRequest(transactionalId: string | null, acks: number, timeoutMs: number, batches: readonly PartitionBatch[]): Writer {
  const byTopic = new Map<string, PartitionBatch[]>()
  for (const b of batches) {
    const list = byTopic.get(b.topic)
    if (list) list.push(b)
    else byTopic.set(b.topic, [b])
  }
  return Writer.create()
    .appendString(transactionalId)
    .appendInt16(acks)
    .appendInt32(timeoutMs)
    .appendArray([...byTopic], (w, [topic, parts]) => {
      w.appendString(topic).appendArray(parts, (w, p) => {
        w.appendInt32(p.partition).appendUnsignedVarInt(p.batch.length + 1).append(p.batch)
      })
    })
    .appendTaggedFields()
}

export const rawProduce = createAPI<Parameters<typeof createRequest>, ProduceResponse>(0, 11, createRequest, produceV11.parseResponse)

/**
 * Answers after which the same batch may be sent again, to the partition's
 * leader as the metadata then names it: the broker wrote nothing, or wrote
 * it and recognizes the batch's producer and sequence when it comes again.
 */
const RETRIABLE = new Set([
  3, // UNKNOWN_TOPIC_OR_PARTITION: metadata not yet everywhere
  5, // LEADER_NOT_AVAILABLE
  6, // NOT_LEADER_OR_FOLLOWER
  7, // REQUEST_TIMED_OUT
  13, // NETWORK_EXCEPTION
  19, // NOT_ENOUGH_REPLICAS
  20, // NOT_ENOUGH_REPLICAS_AFTER_APPEND
  56, // KAFKA_STORAGE_ERROR
  74, // FENCED_LEADER_EPOCH
  75, // UNKNOWN_LEADER_EPOCH
])

/** A batch the broker has already written (one of a producer's last five per partition); newer brokers answer success with its offset instead. */
const DUPLICATE_SEQUENCE_NUMBER = 46

const key = (b: { topic: string; partition: number }) => `${b.topic}:${b.partition}`

/** Rounds of sending again what a leader's move left unwritten (about 5 s of back-off in all). */
export const PRODUCE_RETRIES = 8
/**
 * How long a leader may wait for its followers before it answers a produce:
 * below the client's own request timeout (30 s), so an answer comes before
 * the client gives the request up.
 */
export const PRODUCE_TIMEOUT_MS = 25_000

export interface ProduceOptions {
  transactionalId: string | null
  timeoutMs: number
  /** Rounds of sending again what a leader's move or a lost connection left unwritten. */
  retries: number
}

/**
 * Writes each batch to its partition's leader (acks=all), one request per
 * leader, all at once; resolves to the base offset of each partition's batch.
 * What a leader refuses for a passing reason, or never answers, is sent
 * again, the same bytes, after fresh metadata: an idempotent producer's
 * sequence numbers let the broker write a batch once however often it comes.
 */
export async function produceBatches(client: Producer, batches: readonly PartitionBatch[], o: ProduceOptions): Promise<Map<string, number>> {
  const offsets = new Map<string, number>()
  const topics = [...new Set(batches.map((b) => b.topic))]
  let pending = batches
  for (let attempt = 0; ; attempt++) {
    const again: PartitionBatch[] = []
    let refused: unknown
    let unanswered: unknown
    // A leader being elected, or the metadata itself out of reach: those batches wait for the next round.
    const byLeader = new Map<number, { broker: Broker; list: PartitionBatch[] }>()
    try {
      const md = await client.metadata({ topics, forceUpdate: attempt > 0 })
      for (const b of pending) {
        const leader = md.topics.get(b.topic)?.partitions[b.partition]?.leader ?? -1
        const broker = md.brokers.get(leader)
        if (!broker) {
          unanswered = new Error(`the cluster metadata names no leader for ${key(b)}`)
          again.push(b)
          continue
        }
        const to = byLeader.get(leader)
        if (to) to.list.push(b)
        else byLeader.set(leader, { broker, list: [b] })
      }
    } catch (err) {
      unanswered = err
      again.push(...pending)
    }
    await Promise.all(
      [...byLeader.values()].map(async ({ broker, list }) => {
        /** Notes what the leader wrote and what to send again; false when it refused a batch for good. */
        const noteAnswered = (res: ProduceResponse): boolean => {
          const codes = new Map<string, { errorCode: number; baseOffset: bigint }>()
          for (const t of res.responses) for (const p of t.partitionResponses) codes.set(`${t.name}:${p.index}`, p)
          for (const b of list) {
            const a = codes.get(key(b))
            if (a?.errorCode === 0) offsets.set(key(b), Number(a.baseOffset))
            else if (a?.errorCode === DUPLICATE_SEQUENCE_NUMBER) continue // written before, its offset not said
            else if (a === undefined || RETRIABLE.has(a.errorCode)) again.push(b)
            else return false
          }
          return true
        }
        try {
          if (!noteAnswered(await rawProduce.async(await client.connections.get(broker), o.transactionalId, -1, o.timeoutMs, list))) refused = new Error(`a leader refused a batch of ${list.map(key).join(', ')}`)
        } catch (err) {
          const response = (err as { response?: Partial<ProduceResponse> }).response
          if (response?.responses) {
            if (noteAnswered(response as ProduceResponse)) unanswered = err
            else refused = err
          } else if (isStaleMetadata(err) || /timed? ?out/i.test(errorText(err))) {
            unanswered = err // a connection lost or a request timed out: nothing known, sent again
            again.push(...list)
          } else {
            refused = err
          }
        }
      }),
    )
    if (refused !== undefined) throw refused
    if (again.length === 0) return offsets
    if (attempt >= o.retries) throw unanswered ?? new Error(`no leader wrote ${again.map(key).join(', ')}`)
    await sleep(Math.min(50 * 2 ** attempt, 1000))
    pending = again
  }
}

/**
 * An idempotent producer's sends, with the batches encoded here
 * (`encodeRecordBatch`) and written as they are (`produceBatches`); the
 * client keeps the producer's registration with the brokers (its id and
 * epoch) and, in a transaction, adds the partitions to it. The sequence
 * numbers of each partition are kept here, for the id and epoch they were
 * counted for: the client itself never writes to these partitions.
 */
export class BatchSender {
  /** The next sequence number of each partition written, for the producer id and epoch `#sequencesOf`. */
  readonly #sequences = new Map<string, number>()
  #sequencesOf = ''
  /** The id and epoch of a send that failed: their sequence numbers may be out of step with the broker's. */
  #failedOf = ''
  #sending = false

  constructor(
    private readonly client: () => Producer,
    private readonly o: ProduceOptions,
  ) {}

  /** The client has no producer id yet, or a send of its id failed: it must register (again) before the next send. */
  get mustRegister(): boolean {
    const client = this.client()
    return client.producerId === undefined || client.producerEpoch === undefined || `${client.producerId}:${client.producerEpoch}` === this.#failedOf
  }

  /** Sends `records` (at most a batch's worth per partition); resolves to each partition's base offset. */
  async send(records: readonly OutgoingRecord[], beforeProduce?: (md: ClusterMetadata, partitions: { topic: string; partition: number }[]) => Promise<void>): Promise<Map<string, number>> {
    const client = this.client()
    const producerId = client.producerId
    const producerEpoch = client.producerEpoch
    if (producerId === undefined || producerEpoch === undefined) throw new Error('send before the producer registered with the brokers')
    const owner = `${producerId}:${producerEpoch}`
    if (owner === this.#failedOf) throw new Error(`producer ${owner} failed to send; it must register again (a new id or epoch) before it sends more`)
    if (this.#sending) throw new Error('one send at a time: sequence numbers must reach each partition in order')
    this.#sending = true
    try {
      return await this.#send(client, owner, { producerId, producerEpoch }, records, beforeProduce)
    } finally {
      this.#sending = false
    }
  }

  async #send(client: Producer, owner: string, id: { producerId: bigint; producerEpoch: number }, records: readonly OutgoingRecord[], beforeProduce?: (md: ClusterMetadata, partitions: { topic: string; partition: number }[]) => Promise<void>): Promise<Map<string, number>> {
    if (this.#sequencesOf !== owner) {
      // A new id or epoch starts every partition's sequence again at 0.
      this.#sequences.clear()
      this.#sequencesOf = owner
    }
    const byPartition = new Map<string, OutgoingRecord[]>()
    for (const r of records) {
      const tp = `${r.topic}:${r.partition}`
      const list = byPartition.get(tp)
      if (list) list.push(r)
      else byPartition.set(tp, [r])
    }
    const partitions = [...byPartition.values()].map((list) => ({ topic: list[0]!.topic, partition: list[0]!.partition }))
    if (beforeProduce) await beforeProduce(await client.metadata({ topics: [...new Set(partitions.map((p) => p.topic))] }), partitions)
    const now = Date.now()
    const transactional = this.o.transactionalId !== null
    const batches: PartitionBatch[] = []
    for (const [tp, list] of byPartition) {
      const baseSequence = this.#sequences.get(tp) ?? 0
      batches.push({ topic: list[0]!.topic, partition: list[0]!.partition, batch: encodeRecordBatch(list, { ...id, baseSequence, transactional }, now) })
    }
    // The sequence numbers are taken from here on: a failure may leave them out of step with the broker's.
    for (const [tp, list] of byPartition) this.#sequences.set(tp, nextSequence(this.#sequences.get(tp) ?? 0, list.length))
    try {
      return await produceBatches(client, batches, this.o)
    } catch (err) {
      this.#failedOf = owner
      throw err
    }
  }
}
