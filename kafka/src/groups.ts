import { Consumer } from '@platformatic/kafka'
import { connection, refuseUnknownBrokers, type KafkaSettings } from './settings.js'

/** A group's committed positions, read as often as needed over one client (a benchmark following a peer's progress). */
export class CommittedPositions {
  readonly #consumer: Consumer

  constructor(settings: KafkaSettings, readonly groupId: string) {
    this.#consumer = refuseUnknownBrokers(new Consumer({ clientId: `${settings.clientId}-offsets`, ...connection(settings), groupId, retries: 10, retryDelay: 300 }))
  }

  /** The broker coordinating the group. */
  coordinator(): Promise<number> {
    return this.#consumer.findGroupCoordinator()
  }

  /** Per partition, the position committed (0 when none is). */
  async of(topic: string, partitions: number[]): Promise<Map<number, number>> {
    const res = await this.#consumer.listCommittedOffsets({ topics: [{ topic, partitions }] })
    const offsets = new Map<number, number>()
    const list = res.get(topic) ?? []
    for (const p of partitions) {
      const o = list[p]
      offsets.set(p, o !== undefined && o >= 0n ? Number(o) : 0)
    }
    return offsets
  }

  async close(): Promise<void> {
    await this.#consumer.close(true)
  }
}

/** Reads the positions a group committed (through transactions), and where its coordinator is. */
export async function committedOffsets(settings: KafkaSettings, groupId: string, topic: string, partitions: number[]): Promise<{ offsets: Map<number, number>; coordinatorId: number }> {
  const positions = new CommittedPositions(settings, groupId)
  try {
    const coordinatorId = await positions.coordinator()
    return { offsets: await positions.of(topic, partitions), coordinatorId }
  } finally {
    await positions.close()
  }
}
