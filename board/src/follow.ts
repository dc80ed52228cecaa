import type { Logger } from 'pino'
import { decodeOutput } from '@ridepulse/contracts'
import { connectionProblem, TopicFollower, type KafkaSettings } from '@ridepulse/kafka'
import type { BoardState } from './core/state.js'

/**
 * Reads `orders.output` read_committed from the beginning into the board's
 * state, then follows it. A record that does not decode is skipped and
 * counted; a failed fetch is retried; nothing stops the loop but close().
 */
export class OutputFollower {
  readonly #follower: TopicFollower
  readonly #caughtUp = new Set<number>()
  skipped = 0
  records = 0

  constructor(
    settings: KafkaSettings,
    topic: string,
    partitions: number,
    private readonly state: BoardState,
    private readonly log: Logger,
    private readonly onSkip: () => void = () => undefined,
  ) {
    this.#follower = new TopicFollower(settings, topic, partitions, (partition, records, fetched) => {
      for (const rec of records) {
        if (!rec.value) continue
        try {
          this.state.apply(decodeOutput(rec.value))
          this.records++
        } catch (err) {
          this.skipped++
          this.onSkip()
          if (this.skipped <= 10 || this.skipped % 1000 === 0) this.log.warn({ partition, offset: rec.offset, err, skipped: this.skipped }, 'skipped a record that is not an output record')
        }
      }
      if (fetched.nextOffset >= fetched.lastStableOffset) this.#caughtUp.add(partition)
    }, {
      maxWaitMs: 200,
      maxBytes: 4 << 20,
      onFetchError: (partition, err, failures) => {
        if (failures !== 1 && failures % 20 !== 0) return
        // A certificate, a password or a listener that does not match is said in words.
        const problem = connectionProblem(err, settings.tls !== undefined)
        if (problem) this.log.error({ partition, err, failures, reason: problem.reason }, `cannot use the Kafka cluster: ${problem.message}; retrying`)
        else this.log.warn({ partition, err, failures }, 'fetch failed, retrying')
      },
    })
  }

  /** Partitions that have reached the end they saw at start. */
  get caughtUp(): number {
    return this.#caughtUp.size
  }

  start(): void {
    this.#follower.start()
  }

  async close(): Promise<void> {
    await this.#follower.close()
  }
}
