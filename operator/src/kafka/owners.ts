import { COMPACTED_TOPIC_CONFIGS, CorruptRecordError, decodeTopicOwner, encodeTopicOwner, TOPIC_OWNERS_TOPIC, type TopicOwner } from '@ridepulse/contracts'
import { ensureTopics, PlainProducer, readToEnd, type KafkaSettings } from '@ridepulse/kafka'

/** The cluster's owner records (`TOPIC_OWNERS_TOPIC`): read, claim, release. */
export class TopicOwners {
  constructor(private readonly settings: KafkaSettings) {}

  /** Creates the records' topic (one partition, compacted) when the cluster has none yet. */
  async ensure(): Promise<void> {
    await ensureTopics(this.settings, [{ name: TOPIC_OWNERS_TOPIC, partitions: 1, config: { ...COMPACTED_TOPIC_CONFIGS } }])
  }

  /** The owner of each claimed topic; a record that names no owner is skipped, a tombstone frees its topic. */
  async read(): Promise<Map<string, TopicOwner>> {
    const owners = new Map<string, TopicOwner>()
    for (const r of await readToEnd(this.settings, TOPIC_OWNERS_TOPIC, 0)) {
      const topic = r.key?.toString('utf8')
      if (!topic) continue
      if (!r.value) {
        owners.delete(topic)
        continue
      }
      try {
        owners.set(topic, decodeTopicOwner(r.value))
      } catch (err) {
        if (!(err instanceof CorruptRecordError)) throw err
      }
    }
    return owners
  }

  async claim(topics: readonly string[], owner: TopicOwner): Promise<void> {
    await this.#send(topics.map((t) => ({ topic: TOPIC_OWNERS_TOPIC, partition: 0, key: t, value: encodeTopicOwner(owner) })))
  }

  /** Frees the topics `owner` still owns (a deleted resource's); others' records stay. */
  async release(topics: readonly string[], owner: TopicOwner): Promise<string[]> {
    const owners = await this.read()
    const mine = topics.filter((t) => owners.get(t)?.uid === owner.uid)
    await this.#send(mine.map((t) => ({ topic: TOPIC_OWNERS_TOPIC, partition: 0, key: t, value: null })))
    return mine
  }

  async #send(records: Parameters<PlainProducer['send']>[0]): Promise<void> {
    if (records.length === 0) return
    const producer = new PlainProducer(this.settings)
    try {
      await producer.send(records)
    } finally {
      await producer.close()
    }
  }
}
