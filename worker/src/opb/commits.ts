import type { Logger } from 'pino'
import { encodeJson, encodeOutput, type RideEvent } from '@ridepulse/contracts'
import type { BatchProducer, OutgoingRecord } from '@ridepulse/kafka'
import { transact } from '../commit-loop.js'
import type { OpbConfig } from '../config.js'
import { encodeMeta, encodeWindowValue, META_KEY, type ShardMeta } from '../core/records.js'
import type { BatchResult } from '../core/shard.js'
import type { WorkerHooks } from '../hooks.js'
import type { Metrics } from '../metrics.js'
import type { SnapshotManifest, SnapshotStore } from '../store/snapshots.js'
import { newStoreMeta, type StateStore } from '../store/state-store.js'
import type { RemoteCopies } from './remote-copies.js'
import type { VolumeHealth } from './volume-health.js'

/** Where a shard stands: what its commits change and its status reports. */
export interface ShardState {
  store: StateStore
  meta: ShardMeta
  lastChangelogOffset: number
  lastEventAtMs: number
  commits: number
  lastSnapshot: SnapshotManifest | undefined
}

export interface CommitDeps {
  cfg: OpbConfig
  log: Logger
  metrics: Metrics
  nowMs: () => number
  hooks: WorkerHooks
  producer: BatchProducer
  snapshots: SnapshotStore
  volume: VolumeHealth
  /** A transaction committed at this time (the first after a recovery is reported). */
  committed: (atMs: number) => void
  /** A snapshot failed; the shard keeps processing. */
  snapshotFailed: (err: unknown) => void
  /** Copies full snapshots to an object store, when one is configured. */
  copies?: RemoteCopies
}

/** How a shard makes a processed batch durable: chosen once, at start, by SNAPSHOT_MODE. */
export interface CommitStrategy {
  /** Something waits to be committed even without new input (a snapshot's manifest). */
  readonly pending: boolean
  /** Makes one processed batch durable, or part of the open transaction. */
  commit(state: ShardState, result: BatchResult, events: RideEvent[]): Promise<void>
  /** After each interval: a snapshot or a checkpoint, when one is due. */
  afterInterval(state: ShardState): Promise<void>
  /** Resolves once no snapshot is being written: before the store is closed. */
  idle(): Promise<void>
  /** A failed interval: whatever transaction was open is gone. */
  failed(): void
  /** Recovered: start again from the restored state and its newest snapshot; `announce` goes out with the next transaction. */
  resumed(state: ShardState, head: SnapshotManifest | undefined, announce?: OutgoingRecord): void
}

export const commitStrategy = (d: CommitDeps): CommitStrategy => (d.cfg.SNAPSHOT_MODE === 'checkpoint' ? new CheckpointCommits(d) : new ChangelogCommits(d))

const outputRecords = (cfg: OpbConfig, result: BatchResult): OutgoingRecord[] => {
  const shard = cfg.SHARD
  const records: OutgoingRecord[] = []
  for (const o of result.output) records.push({ topic: cfg.TOPIC_OUTPUT, partition: shard, key: `${o.zone}|${o.windowStart}`, value: encodeOutput(o) })
  for (const l of result.late) records.push({ topic: cfg.TOPIC_LATE, partition: shard, key: l.zone, value: encodeJson(l) })
  return records
}

const manifestRecord = (cfg: OpbConfig, m: SnapshotManifest): OutgoingRecord => ({ topic: cfg.TOPIC_SNAPSHOTS, partition: cfg.SHARD, key: `${cfg.PIPELINE}/${cfg.SHARD}`, value: encodeJson(m) })

function countOutput(d: CommitDeps, result: BatchResult): void {
  d.metrics.recordsOut.inc({ topic: d.cfg.TOPIC_OUTPUT }, result.output.length)
  if (result.late.length) {
    d.metrics.late.inc(result.late.length)
    d.metrics.recordsOut.inc({ topic: d.cfg.TOPIC_LATE }, result.late.length)
  }
}

/**
 * Incremental or full snapshots plus the changelog: one transaction per
 * interval with the changed windows on the changelog, the output, the late
 * events and the newest snapshot's manifest. Snapshots are written beside
 * the commits and never stop them.
 */
class ChangelogCommits implements CommitStrategy {
  /** Keys changed since the last snapshot: what a partial one holds. */
  #dirty = new Set<string>()
  #partialsSinceFull = 0
  /** The snapshot being written, if one is: never two at once. */
  #writing: Promise<void> | undefined
  #lastSnapshotAt = 0
  /** A snapshot's manifest, published by the next transaction. */
  #manifest: SnapshotManifest | undefined
  /** The owner's announcement to its standby, committed with the first transaction after a recovery. */
  #announce: OutgoingRecord | undefined

  constructor(private readonly d: CommitDeps) {}

  get pending(): boolean {
    return this.#manifest !== undefined || this.#announce !== undefined
  }

  async commit(state: ShardState, result: BatchResult, events: RideEvent[]): Promise<void> {
    const { cfg, metrics } = this.d
    const commitNo = ++state.commits
    this.d.hooks.commitPoint?.('before-commit', commitNo)
    const shard = cfg.SHARD
    const records: OutgoingRecord[] = []
    for (const [key, agg] of result.changes) records.push({ topic: cfg.TOPIC_CHANGELOG, partition: shard, key, value: agg ? encodeWindowValue(agg) : null })
    records.push({ topic: cfg.TOPIC_CHANGELOG, partition: shard, key: META_KEY, value: encodeMeta(result.meta) })
    const changelogCount = records.length
    records.push(...outputRecords(cfg, result))
    const manifest = this.#manifest
    if (manifest) records.push(manifestRecord(cfg, manifest))
    const announce = this.#announce
    if (announce) records.push(announce)

    const t0 = this.d.nowMs()
    const sent = await transact(this.d.producer, this.d.hooks, commitNo, records)
    const committedAt = this.d.nowMs()
    this.d.committed(committedAt)
    metrics.commitLatency.observe(committedAt - t0)
    metrics.transactions.inc({ outcome: 'committed' })

    const base = sent.baseOffsets.get(`${cfg.TOPIC_CHANGELOG}:${shard}`)
    if (base !== undefined) state.lastChangelogOffset = base + changelogCount - 1
    state.meta = result.meta
    state.lastEventAtMs = result.lastEventAtMs
    this.#manifest = undefined
    if (announce) {
      this.#announce = undefined
      this.d.log.info('announced to the standby as the shard\'s owner')
    }
    state.store.apply(result.changes, newStoreMeta(result.meta, state.lastChangelogOffset))
    for (const key of result.changes.keys()) this.#dirty.add(key)

    metrics.recordsOut.inc({ topic: cfg.TOPIC_CHANGELOG }, changelogCount)
    countOutput(this.d, result)
    for (const e of events) metrics.endToEnd.observe(committedAt - e.ingestMs)
  }

  /**
   * Starts a snapshot when one is due and none is being written, and
   * returns at once: the commits go on while it is written (the full copy
   * of a large state takes seconds). Its manifest goes out with the first
   * transaction after it is whole. A snapshot that fails (a full disk, say)
   * stops nothing: the changelog holds the state, and the keys it held go
   * into the next one, a snapshot interval later.
   */
  async afterInterval(state: ShardState): Promise<void> {
    if (this.#writing) return
    const taking = this.#startSnapshot(state)
    if (!taking) return
    const failing = this.d.volume.failing === 'snapshot'
    this.#writing = taking.then(
      () => {
        if (failing) this.d.volume.written()
      },
      (err: unknown) => this.d.snapshotFailed(err),
    ).finally(() => (this.#writing = undefined))
  }

  idle(): Promise<void> {
    return this.#writing ?? Promise.resolve()
  }

  /**
   * A snapshot, when one is due: what it holds is fixed before this
   * returns (the keys changed since the last one, read now, or LMDB's copy
   * of the whole store, which is taken in a read transaction of its own),
   * so commits may change the store while it is written.
   */
  #startSnapshot(state: ShardState): Promise<void> | undefined {
    const { cfg, metrics } = this.d
    const now = this.d.nowMs()
    if (now - this.#lastSnapshotAt < cfg.SNAPSHOT_INTERVAL_MS) return undefined
    const last = state.lastSnapshot
    if (last && this.#dirty.size === 0 && last.inputOffsets[`${cfg.TOPIC_ENRICHED}:${cfg.SHARD}`] === state.meta.inputOffset) return undefined
    this.#lastSnapshotAt = now
    const partial = cfg.SNAPSHOT_MODE === 'incremental' && last !== undefined && this.#partialsSinceFull < cfg.SNAPSHOT_FULL_EVERY
    // Keys changed from now on go to the next snapshot; these go back to it if this one fails.
    const held = this.#dirty
    this.#dirty = new Set()
    const taken = partial ? this.d.snapshots.takePartial(state.store, held, last, cfg.TOPIC_ENRICHED, now) : this.d.snapshots.takeFull(state.store, cfg.TOPIC_ENRICHED, now)
    return taken.then(
      async (m) => {
        this.#partialsSinceFull = partial ? this.#partialsSinceFull + 1 : 0
        state.lastSnapshot = m
        this.#manifest = m
        const ms = this.d.nowMs() - now
        metrics.snapshotDuration.observe({ kind: m.kind }, ms)
        metrics.snapshotBytes.set({ kind: m.kind }, m.sizeBytes)
        metrics.stateKeys.set(state.store.windowCount())
        this.d.copies?.offer(m)
        const removed = await this.d.snapshots.prune(cfg.SNAPSHOT_KEEP)
        this.d.log.info({ snapshotId: m.snapshotId, kind: m.kind, sizeBytes: m.sizeBytes, keys: m.keys, ms, removed: removed.length }, 'snapshot taken')
      },
      (err: unknown) => {
        for (const key of held) this.#dirty.add(key)
        throw err
      },
    )
  }

  failed(): void {}

  resumed(state: ShardState, _head?: SnapshotManifest, announce?: OutgoingRecord): void {
    // The restored store is whole: the next snapshot is a full one, taken a snapshot interval from now.
    this.#announce = announce
    this.#dirty.clear()
    state.lastSnapshot = undefined
    this.#lastSnapshotAt = this.d.nowMs()
  }
}

/**
 * No changelog (the baseline to measure against): one transaction spans a
 * snapshot interval, holds its output and late events, and commits with a
 * full snapshot's manifest. The store takes each batch at once; it is never
 * trusted after a crash, when recovery restores the committed checkpoint.
 */
class CheckpointCommits implements CommitStrategy {
  #open = false
  /** Ingest times of the events in the open transaction, for the end-to-end latency. */
  #ingest: number[] = []
  #lastCheckpointAt = 0

  constructor(private readonly d: CommitDeps) {}

  get pending(): boolean {
    return false
  }

  /** A checkpoint is written inside its transaction, never beside it. */
  idle(): Promise<void> {
    return Promise.resolve()
  }

  async commit(state: ShardState, result: BatchResult, events: RideEvent[]): Promise<void> {
    if (!this.#open) {
      await this.d.producer.begin()
      this.#open = true
    }
    await this.d.producer.send(outputRecords(this.d.cfg, result))
    state.meta = result.meta
    state.lastEventAtMs = result.lastEventAtMs
    state.store.apply(result.changes, newStoreMeta(result.meta, -1))
    for (const e of events) this.#ingest.push(e.ingestMs)
    countOutput(this.d, result)
  }

  /** A full snapshot, then its manifest and everything since the last one committed together. */
  async afterInterval(state: ShardState): Promise<void> {
    const { cfg, metrics, producer, hooks } = this.d
    const now = this.d.nowMs()
    if (now - this.#lastCheckpointAt < cfg.SNAPSHOT_INTERVAL_MS || !this.#open) return
    this.#lastCheckpointAt = now
    const commitNo = ++state.commits
    hooks.commitPoint?.('before-commit', commitNo)
    const t0 = this.d.nowMs()
    const m = await this.d.snapshots.takeFull(state.store, cfg.TOPIC_ENRICHED, now)
    const snapMs = this.d.nowMs() - t0
    await producer.send([manifestRecord(cfg, m)])
    hooks.commitPoint?.('during-commit', commitNo)
    const t1 = this.d.nowMs()
    await producer.commit()
    this.#open = false
    const committedAt = this.d.nowMs()
    this.d.committed(committedAt)
    hooks.commitPoint?.('after-commit', commitNo)
    state.lastSnapshot = m
    metrics.commitLatency.observe(committedAt - t1)
    metrics.transactions.inc({ outcome: 'committed' })
    for (const ingest of this.#ingest) metrics.endToEnd.observe(committedAt - ingest)
    this.#ingest = []
    metrics.snapshotDuration.observe({ kind: m.kind }, snapMs)
    metrics.snapshotBytes.set({ kind: m.kind }, m.sizeBytes)
    metrics.stateKeys.set(state.store.windowCount())
    // Keep the committed checkpoint and the ones before it; nothing newer exists.
    const removed = await this.d.snapshots.prune(cfg.SNAPSHOT_KEEP)
    this.d.log.info({ snapshotId: m.snapshotId, sizeBytes: m.sizeBytes, keys: m.keys, ms: snapMs, removed: removed.length }, 'checkpoint committed')
  }

  failed(): void {
    this.#open = false
  }

  resumed(state: ShardState, head: SnapshotManifest | undefined): void {
    this.#open = false
    this.#ingest = []
    state.lastSnapshot = head
    this.#lastCheckpointAt = this.d.nowMs()
  }
}
