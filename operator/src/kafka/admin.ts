import { TopicAdmin, type KafkaSettings } from '@ridepulse/kafka'
import type { DesiredTopic, ObservedTopic, TopicAction } from '../core/topics.js'

/** The broker's side of the topics step: what exists, and the few changes the operator may make. */
export class PipelineTopics {
  readonly #admin: TopicAdmin

  constructor(settings: KafkaSettings) {
    this.#admin = new TopicAdmin(settings)
  }

  observe(desired: DesiredTopic[]): Promise<Map<string, ObservedTopic>> {
    return this.#admin.observe(desired.map((t) => t.name))
  }

  async apply(actions: TopicAction[], replicationFactor: number): Promise<void> {
    for (const a of actions) {
      if (a.kind === 'create') await this.#admin.create({ name: a.topic.name, partitions: a.topic.partitions, config: { ...a.topic.configs } }, replicationFactor)
      else await this.#admin.addPartitions(a.topic.name, a.topic.partitions)
    }
  }

  async close(): Promise<void> {
    await this.#admin.close()
  }
}
