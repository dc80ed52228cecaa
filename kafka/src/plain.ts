import { Producer } from '@platformatic/kafka'
import { toMessage, type OutgoingRecord } from './outgoing.js'
import { connection, refuseUnknownBrokers, type KafkaSettings } from './settings.js'

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
