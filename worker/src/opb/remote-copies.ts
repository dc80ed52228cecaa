import type { Logger } from 'pino'
import type { OpbConfig } from '../config.js'
import type { Metrics } from '../metrics.js'
import type { RemoteSnapshots, RemoteUpload } from '../store/remote.js'
import { remoteLocation } from '../store/remote-location.js'
import type { SnapshotManifest, SnapshotStore } from '../store/snapshots.js'

export interface RemoteCopiesStatus {
  where: string
  uploads: number
  failures: number
  last: (RemoteUpload & { at: number }) | null
  lastError: string | null
  uploading: string | null
}

/**
 * Copies full snapshots to the object store beside the shard's work: one
 * upload at a time, the newest snapshot offered while one runs waits and
 * replaces any older one waiting. The snapshot being copied is pinned on the
 * volume so pruning keeps it. A failed copy stops nothing: the next full
 * snapshot is copied in its turn.
 */
export class RemoteCopies {
  #client: Promise<RemoteSnapshots> | undefined
  #next: SnapshotManifest | undefined
  #running: Promise<void> | undefined
  #closed = false
  readonly #status: RemoteCopiesStatus

  constructor(
    private readonly cfg: OpbConfig & { REMOTE_SNAPSHOTS_BUCKET: string },
    private readonly snapshots: SnapshotStore,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly nowMs: () => number,
  ) {
    this.#status = { where: remoteLocation(cfg).where, uploads: 0, failures: 0, last: null, lastError: null, uploading: null }
  }

  /** The store's client; the SDK behind it is loaded on the first call (a copy, or a recovery that needs the store). */
  remote(): Promise<RemoteSnapshots> {
    this.#client ??= import('../store/remote.js').then((m) => m.loadRemoteSnapshots(this.cfg))
    return this.#client
  }

  status(): RemoteCopiesStatus {
    return { ...this.#status }
  }

  offer(m: SnapshotManifest): void {
    if (m.kind !== 'full' || this.#closed) return
    this.#next = m
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined
    })
  }

  /** Resolves when no copy runs or waits (tests, a graceful stop). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running
  }

  async #drain(): Promise<void> {
    for (let m = this.#next; m && !this.#closed; m = this.#next) {
      this.#next = undefined
      this.snapshots.pin(m.snapshotId)
      this.#status.uploading = m.snapshotId
      try {
        const remote = await this.remote()
        const up = await remote.upload(this.snapshots.dirOf(m.snapshotId), m, this.nowMs)
        this.#status.uploads++
        this.#status.last = { ...up, at: this.nowMs() }
        this.#status.lastError = null
        this.metrics.remoteCopies.inc({ outcome: 'copied' })
        this.metrics.remoteCopyDuration.observe(up.ms)
        this.metrics.remoteCopyLast.set(Math.round(this.nowMs() / 1000))
        const removed = await remote.prune(this.cfg.REMOTE_SNAPSHOTS_KEEP, this.cfg.SHARD).catch((err: unknown) => {
          this.log.warn({ err: (err as Error).message }, 'old remote snapshot copies could not be deleted; tried again after the next copy')
          return []
        })
        this.log.info({ snapshotId: up.snapshotId, bytes: up.bytes, ms: up.ms, removed: removed.length, where: remote.where }, 'snapshot copied to the object store')
      } catch (err) {
        this.#status.failures++
        this.#status.lastError = (err as Error).message
        this.metrics.remoteCopies.inc({ outcome: 'failed' })
        this.log.warn({ err: (err as Error).message, snapshotId: m.snapshotId }, 'snapshot copy to the object store failed; the next full snapshot is copied in its turn')
      } finally {
        this.#status.uploading = null
        this.snapshots.unpin(m.snapshotId)
      }
    }
  }

  /** Stops taking snapshots; a copy under way is abandoned with the client (its parts are aborted by the store's lifecycle or the next prune). */
  close(): void {
    this.#closed = true
    this.#next = undefined
    void this.#client?.then((r) => r.close(), () => undefined)
  }
}
