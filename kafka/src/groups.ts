import { Consumer } from '@platformatic/kafka'
import { connection, refuseUnknownBrokers, type KafkaSettings } from './settings.js'

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
