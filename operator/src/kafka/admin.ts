import { Admin, ConfigResourceTypes } from '@platformatic/kafka'
import type { DesiredTopic, ObservedTopic, TopicAction } from '../core/topics.js'

export interface KafkaAccess {
  bootstrapServers: string[]
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string }
}

/** The broker's side of the topics step: what exists, and the few changes the operator may make. */
export class TopicAdmin {
  readonly #admin: Admin

  constructor(access: KafkaAccess, clientId: string) {
    this.#admin = new Admin({
      clientId,
      bootstrapBrokers: access.bootstrapServers,
      retries: 2,
      retryDelay: 250,
      timeout: 5000,
      ...(access.sasl ? { sasl: access.sasl } : {}),
    })
  }

  async observe(names: string[]): Promise<Map<string, ObservedTopic>> {
    const existing = new Set(await this.#admin.listTopics())
    const present = names.filter((n) => existing.has(n))
    const out = new Map<string, ObservedTopic>()
    if (present.length === 0) return out
    const md = await this.#admin.metadata({ topics: present, forceUpdate: true })
    const configs = await this.#admin.describeConfigs({
      resources: present.map((n) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName: n, configurationKeys: ['cleanup.policy'] })),
    })
    for (const n of present) {
      const policy = configs.find((c) => c.resourceName === n)?.configs.find((c) => c.name === 'cleanup.policy')?.value ?? 'delete'
      out.set(n, { name: n, partitions: md.topics.get(n)?.partitionsCount ?? 0, cleanupPolicy: policy })
    }
    return out
  }

  async apply(actions: TopicAction[], replicationFactor: number): Promise<void> {
    for (const a of actions) {
      if (a.kind === 'create') {
        const configs = Object.entries(a.topic.configs).map(([name, value]) => ({ name, value }))
        try {
          await this.#admin.createTopics({ topics: [a.topic.name], partitions: a.topic.partitions, replicas: replicationFactor, configs })
        } catch (err) {
          if (!/already exists/i.test(String((err as Error)?.message) + JSON.stringify((err as { errors?: unknown })?.errors ?? ''))) throw err
        }
      } else {
        await this.#admin.createPartitions({ topics: [{ name: a.topic.name, count: a.topic.partitions, assignments: [] }] })
      }
    }
  }

  async close(): Promise<void> {
    await this.#admin.close()
  }
}

export function topicNames(topics: DesiredTopic[]): string[] {
  return topics.map((t) => t.name)
}
