import type { Logger } from 'pino'
import { describeError } from '@ridepulse/kafka'
import type { Metrics } from '../metrics.js'

export type VolumeOperation = 'snapshot' | 'state' | 'recovery'

/**
 * Whether the shard's data volume takes writes. A failed write (a full
 * disk, a quota, a read-only or failing disk) makes the shard unhealthy
 * until a write of the same kind succeeds: one error line when writes start
 * failing, one when they work again, a metric, and `/healthz` answering 503
 * so that Kubernetes restarts the container and an alert can fire.
 */
export class VolumeHealth {
  #failing: { since: number; operation: VolumeOperation; error: string } | undefined

  constructor(
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly dataDir: string,
    readonly nowMs: () => number,
  ) {}

  /** The operation whose failure holds the shard unhealthy, if any. */
  get failing(): VolumeOperation | undefined {
    return this.#failing?.operation
  }

  failed(operation: VolumeOperation, err: unknown): void {
    this.metrics.volumeWriteFailures.inc({ operation })
    this.metrics.volumeWritable.set(0)
    if (!this.#failing) this.log.error({ err, operation, dataDir: this.dataDir }, 'cannot write to the data volume; /healthz reports it until a write succeeds')
    this.#failing = { since: this.#failing?.since ?? this.nowMs(), operation, error: describeError(err) }
  }

  written(): void {
    if (this.#failing) this.log.info({ since: this.#failing.since, operation: this.#failing.operation }, 'the data volume takes writes again')
    this.#failing = undefined
    this.metrics.volumeWritable.set(1)
  }

  health(): { ok: boolean; detail: string } {
    const f = this.#failing
    return f ? { ok: false, detail: `cannot write to the data volume since ${new Date(f.since).toISOString()} (${f.operation}): ${f.error}` } : { ok: true, detail: 'ok' }
  }

  status() {
    return this.#failing ? { writable: false, ...this.#failing } : { writable: true }
  }
}
