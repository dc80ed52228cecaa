import { createTraffic, type GeneratedRecord } from './generator.js'
import { hash32 } from '@ridepulse/contracts'
import { chunkBySize, PlainProducer, type KafkaSettings } from '@ridepulse/kafka'

export interface LoadOptions {
  settings: KafkaSettings
  topic: string
  partitions: number
  ratePerSec: number
  zones: number
  seed: number
  malformedFraction: number
  maxDisorderMs: number
  tickMs?: number
  /** Told of every batch once the broker has it, with the time it was handed to the producer. */
  onSent?: (batch: GeneratedRecord[], producedAtMs: number) => void
}

export interface LoadStats {
  sent: number
  valid: number
  malformed: number
  sendErrors: number
}

/** Well under the broker's default limit of a record batch (message.max.bytes, 1 MiB). */
const MAX_REQUEST_BYTES = 256 * 1024

/** Produces generated city traffic to the raw topic until stopped. */
export function startLoad(opts: LoadOptions): { stop(): Promise<LoadStats>; stats: LoadStats } {
  const producer = new PlainProducer(opts.settings)
  const traffic = createTraffic({
    seed: opts.seed,
    zones: opts.zones,
    ratePerSec: opts.ratePerSec,
    malformedFraction: opts.malformedFraction,
    maxDisorderMs: opts.maxDisorderMs,
    startMs: Date.now(),
  })
  const stats: LoadStats = { sent: 0, valid: 0, malformed: 0, sendErrors: 0 }
  let running = true
  const tick = opts.tickMs ?? 50
  const loop = (async () => {
    while (running) {
      const t0 = Date.now()
      const batch = traffic.next(t0)
      const records = batch.map((r) => ({ topic: opts.topic, partition: hash32(r.key) % opts.partitions, key: r.key, value: Buffer.from(r.value) }))
      // Like any upstream producer, keep retrying (the topic may not exist
      // yet, the broker may be restarting); the idempotent producer keeps
      // retries from duplicating. A tick that came late holds more records:
      // they go in requests the broker's size limit takes.
      for (const chunk of chunkBySize(records, MAX_REQUEST_BYTES)) {
        for (let attempt = 0; ; attempt++) {
          try {
            await producer.send(chunk)
            break
          } catch (err) {
            stats.sendErrors++
            if (attempt >= 300) throw err
            await new Promise((r) => setTimeout(r, 200))
          }
        }
      }
      opts.onSent?.(batch, t0)
      stats.sent += batch.length
      for (const r of batch) {
        if (r.valid) stats.valid++
        else stats.malformed++
      }
      const spent = Date.now() - t0
      if (spent < tick) await new Promise((r) => setTimeout(r, tick - spent))
    }
  })()
  // A send that never succeeds ends the loop; stop() says why (no unhandled rejection meanwhile).
  loop.catch(() => undefined)
  return {
    stats,
    async stop() {
      running = false
      await loop
      await producer.close()
      return stats
    },
  }
}
