import { setTimeout as sleep } from 'node:timers/promises'
import type { ConsumedRecord, FetchResult } from './partition-reader.js'
import { PartitionReader } from './partition-reader.js'
import type { KafkaSettings } from './settings.js'

export interface FollowOptions {
  maxWaitMs: number
  maxBytes?: number
  /** Where each partition starts; 0 for all by default. */
  from?: readonly number[]
  /** Told of each failed fetch before the next try (it is retried with a growing pause, up to 2 s). */
  onFetchError?: (partition: number, err: unknown, failures: number) => void
}

/**
 * Follows every partition of a topic read_committed, one loop per partition,
 * from a start offset until close(): each fetch's records go to `onRecords`.
 * A failed fetch is retried; nothing but close() stops the loops.
 */
export class TopicFollower {
  readonly #readers: PartitionReader[]
  #loops: Promise<void>[] = []
  #stopped = false

  constructor(
    settings: KafkaSettings,
    readonly topic: string,
    partitions: number,
    private readonly onRecords: (partition: number, records: readonly ConsumedRecord[], fetched: FetchResult) => void,
    private readonly opts: FollowOptions,
  ) {
    this.#readers = Array.from({ length: partitions }, (_, p) => new PartitionReader(settings, topic, p))
  }

  start(): this {
    this.#loops = this.#readers.map((r, p) => this.#follow(r, p))
    return this
  }

  async #follow(reader: PartitionReader, partition: number): Promise<void> {
    let offset = this.opts.from?.[partition] ?? 0
    let failures = 0
    while (!this.#stopped) {
      let res: FetchResult
      try {
        res = await reader.fetch(offset, { maxWaitMs: this.opts.maxWaitMs, maxBytes: this.opts.maxBytes ?? 8 << 20 })
      } catch (err) {
        failures++
        this.opts.onFetchError?.(partition, err, failures)
        await sleep(Math.min(2000, 100 * failures))
        continue
      }
      failures = 0
      this.onRecords(partition, res.records, res)
      offset = res.nextOffset
    }
  }

  async close(): Promise<void> {
    this.#stopped = true
    await Promise.all(this.#loops)
    await Promise.all(this.#readers.map((r) => r.close()))
  }
}
