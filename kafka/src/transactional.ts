import { TRANSACTION_TIMEOUT_MS } from '@ridepulse/contracts'
import { Admin, endTxnV4, findCoordinatorV6, FindCoordinatorKeyTypes, Producer } from '@platformatic/kafka'
import { chunkBySize } from './chunks.js'
import { isFencingError, ProducerFencedError, protocolErrorIds } from './errors.js'
import { MAX_SEND_BYTES, noteBaseOffsets, type OutgoingRecord, type SendResult } from './outgoing.js'
import { BatchSender, PRODUCE_RETRIES, PRODUCE_TIMEOUT_MS } from './raw-produce.js'
import { connection, refuseUnknownBrokers, type KafkaSettings } from './settings.js'

type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>

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
  readonly delivery = 'exactly-once' as const
  #producer: Producer
  #tx: Transaction | undefined
  /** Something was sent in the open transaction, so the broker knows it. */
  #sent = false
  /** The producer id and epoch this process was last given, once it has been. */
  #identity: { producerId: bigint; epoch: number } | undefined
  /** Told once that another process owns the id: for good, nothing is sent again. */
  #fenced = false
  readonly #sender: BatchSender

  constructor(
    private readonly settings: KafkaSettings,
    readonly transactionalId: string,
    /** How long the coordinator lets a transaction stay open before it aborts it. */
    private readonly transactionTimeoutMs = TRANSACTION_TIMEOUT_MS,
  ) {
    this.#producer = this.#client(-1n, -1)
    this.#sender = new BatchSender(() => this.#producer, { transactionalId, timeoutMs: PRODUCE_TIMEOUT_MS, retries: PRODUCE_RETRIES })
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
      timeout: this.transactionTimeoutMs,
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

  /** Sends records in the open transaction (`BatchSender`: the client adds their partitions to it first). */
  async send(records: OutgoingRecord[]): Promise<SendResult> {
    const tx = this.#tx
    if (!tx) throw new Error('send outside a transaction')
    const baseOffsets = new Map<string, number>()
    if (records.length === 0) return { baseOffsets }
    this.#sent = true
    for (const chunk of chunkBySize(records, MAX_SEND_BYTES)) {
      noteBaseOffsets(baseOffsets, await this.#wrap(() => this.#sender.send(chunk, (md, partitions) => tx.addPartitions(md, partitions as Parameters<Transaction['addPartitions']>[1]))))
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
export type BatchProducer = Pick<TxnProducer, 'epoch' | 'fenced' | 'fence' | 'begin' | 'send' | 'sendOffsets' | 'commit' | 'abort' | 'close'> & { readonly delivery: 'exactly-once' | 'at-least-once' }
