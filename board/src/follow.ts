import type { Logger } from 'pino'
import { decodeOutput } from '@ridepulse/contracts'
import { PartitionReader, type KafkaSettings } from '@ridepulse/worker/kafka/client'
import type { BoardState } from './core/state.js'

/**
 * Reads `orders.output` read_committed from the beginning into the board's
 * state, then follows it. A record that does not decode is skipped and
 * counted; a failed fetch is retried; nothing stops the loop but close().
 */
export class OutputFollower {
  readonly #readers: PartitionReader[]
  #stopped = false
  #loops: Promise<void>[] = []
  skipped = 0
  records = 0
  /** Partitions that have reached the end they saw at start. */
  caughtUp = 0

  constructor(
    settings: KafkaSettings,
    topic: string,
    partitions: number,
    private readonly state: BoardState,
    private readonly log: Logger,
    private readonly onSkip: () => void = () => undefined,
  ) {
    this.#readers = Array.from({ length: partitions }, (_, p) => new PartitionReader(settings, topic, p))
  }

  start(): void {
    this.#loops = this.#readers.map((r, p) => this.#follow(r, p))
  }

  async #follow(reader: PartitionReader, partition: number): Promise<void> {
    let offset = 0
    let caughtUp = false
    let failures = 0
    while (!this.#stopped) {
      try {
        const res = await reader.fetch(offset, { maxWaitMs: 200, maxBytes: 4 << 20 })
        failures = 0
        for (const rec of res.records) {
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
        offset = res.nextOffset
        if (!caughtUp && offset >= res.lastStableOffset) {
          caughtUp = true
          this.caughtUp++
        }
      } catch (err) {
        failures++
        if (failures === 1 || failures % 20 === 0) this.log.warn({ partition, err, failures }, 'fetch failed, retrying')
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * failures)))
      }
    }
  }

  async close(): Promise<void> {
    this.#stopped = true
    await Promise.all(this.#loops)
    await Promise.all(this.#readers.map((r) => r.close()))
  }
}
