import { Admin, ConfigResourceTypes } from '@platformatic/kafka'
import { errorText } from './errors.js'
import { connection, type KafkaSettings } from './settings.js'

export interface TopicSpec {
  name: string
  partitions: number
  /** Topic configs it is created with. */
  config?: Record<string, string>
}

/** Creates a topic; one created meanwhile by someone else is left as it is. */
async function createIfAbsent(admin: Admin, topic: TopicSpec, replicationFactor: number): Promise<void> {
  const configs = Object.entries(topic.config ?? {}).map(([name, value]) => ({ name, value }))
  try {
    await admin.createTopics({ topics: [topic.name], partitions: topic.partitions, replicas: replicationFactor, configs })
  } catch (err) {
    if (!/already exists/i.test(errorText(err))) throw err
  }
}

/** Creates missing topics; an existing topic with a different partition count is an error naming it. */
export async function ensureTopics(settings: KafkaSettings, specs: TopicSpec[]): Promise<void> {
  const admin = new Admin({ clientId: `${settings.clientId}-admin`, ...connection(settings), retries: 10, retryDelay: 300 })
  try {
    const existing = new Set(await admin.listTopics())
    const missing = specs.filter((s) => !existing.has(s.name))
    for (const s of missing) await createIfAbsent(admin, s, settings.replicationFactor ?? -1)
    const md = await admin.metadata({ topics: specs.map((s) => s.name), forceUpdate: true })
    for (const s of specs) {
      const have = md.topics.get(s.name)?.partitionsCount
      if (have !== s.partitions) throw new Error(`topic ${s.name} has ${have ?? 0} partitions, the configuration expects ${s.partitions}`)
    }
  } finally {
    await admin.close()
  }
}

export interface ObservedTopic {
  name: string
  partitions: number
  cleanupPolicy: string
}

/** What an operator may do to a pipeline's topics: look, create, add partitions. Never delete. */
export class TopicAdmin {
  readonly #admin: Admin

  constructor(settings: KafkaSettings) {
    this.#admin = new Admin({ clientId: settings.clientId, ...connection(settings), retries: 2, retryDelay: 250, timeout: 5000 })
  }

  /** The topics of `names` that exist, with their partition counts and cleanup policies. */
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

  /** Creates a topic; one created meanwhile by someone else is left as it is. */
  async create(topic: TopicSpec, replicationFactor: number): Promise<void> {
    await createIfAbsent(this.#admin, topic, replicationFactor)
  }

  async addPartitions(name: string, count: number): Promise<void> {
    await this.#admin.createPartitions({ topics: [{ name, count, assignments: [] }] })
  }

  async close(): Promise<void> {
    await this.#admin.close()
  }
}
