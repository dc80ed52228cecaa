import { decodeEvent, encodeJson, encodeOutput, type OpbPhase, type RecoveryReport, type RideEvent } from '@ridepulse/contracts'
import type { Logger } from 'pino'
import { join } from 'node:path'
import { encodeMeta, encodeWindowValue, initialMeta, META_KEY, type ShardMeta } from '../core/records.js'
import { processBatch, type BatchResult, type WindowConfig } from '../core/shard.js'
import { kafkaSettings, type OpbConfig } from '../config.js'
import { faultInjector } from '../fault.js'
import { PartitionReader, AtLeastOnceProducer, TxnProducer, type BatchProducer, describeError, type KafkaSettings, type OutgoingRecord } from '@ridepulse/kafka'
import type { Metrics } from '../metrics.js'
import { isVolumeError } from '../store/files.js'
import { SnapshotStore, SnapshotUnavailableError, type SnapshotManifest, type Staged } from '../store/snapshots.js'
import { latestPublishedManifest, replayChangelog } from './changelog.js'
import type { EarlyRestore } from './early-restore.js'
import { VolumeHealth } from './volume-health.js'
import { newStoreMeta, StateStore } from '../store/state-store.js'

export type Phase = OpbPhase

const NEXT: Record<Phase, Phase[]> = {
  starting: ['fencing', 'stopping', 'failed'],
  fencing: ['loading-snapshot', 'stopping', 'failed'],
  'loading-snapshot': ['replaying', 'stopping', 'failed'],
  replaying: ['running', 'stopping', 'failed'],
  running: ['fencing', 'stopping', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: [],
  failed: ['fencing', 'stopping'],
}

export type { RecoveryReport }

/** Points inside a recovery where a test may act on the real broker. */
export interface RecoveryHooks {
  /** After the fence completed, before the changelog's end and the manifest are read. */
  afterFence?: () => Promise<void>
}

/** One OpB shard: owns partition `shard` of the input and of the changelog. */
export class OpbShard {
  #phase: Phase = 'starting'
  #store: StateStore | undefined
  #meta: ShardMeta = initialMeta()
  #lastChangelogOffset = -1
  #lastEventAtMs = 0
  #commits = 0
  #stopping = false
  #dirty = new Set<string>()
  #lastSnapshot: SnapshotManifest | undefined
  #partialsSinceFull = 0
  #lastSnapshotAt = 0
  #pendingManifest: SnapshotManifest | undefined
  /** Checkpoint-only mode: the transaction open across the snapshot interval, and the ingest times it holds. */
  #txOpen = false
  #txIngest: number[] = []
  #recoveries: RecoveryReport[] = []
  #lastError: string | undefined
  #lag = 0
  readonly #settings: KafkaSettings
  readonly #producer: BatchProducer
  readonly #input: PartitionReader
  readonly #changelog: PartitionReader
  readonly #snapshots: SnapshotStore
  /** The copy of the newest base begun at start-up, for the first recovery only. */
  #earlyStaged: Staged | undefined
  readonly #windows: WindowConfig
  readonly #volume: VolumeHealth
  readonly #fault: ReturnType<typeof faultInjector>
  readonly #pipeline: string
  /** No changelog: one transaction per snapshot interval, committed with a full snapshot's manifest. */
  readonly #checkpointOnly: boolean

  constructor(
    readonly cfg: OpbConfig,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly nowMs: () => number = Date.now,
    early?: EarlyRestore,
    readonly hooks: RecoveryHooks = {},
  ) {
    this.#pipeline = cfg.PIPELINE
    this.#settings = kafkaSettings(cfg, `${cfg.PIPELINE}-opb-${cfg.SHARD}`)
    this.#producer = cfg.DELIVERY === 'exactly-once' ? new TxnProducer(this.#settings, `${cfg.PIPELINE}-opb-${cfg.SHARD}`) : new AtLeastOnceProducer(this.#settings)
    this.#input = new PartitionReader(this.#settings, cfg.TOPIC_ENRICHED, cfg.SHARD)
    this.#changelog = new PartitionReader(this.#settings, cfg.TOPIC_CHANGELOG, cfg.SHARD)
    this.#checkpointOnly = cfg.SNAPSHOT_MODE === 'checkpoint'
    const useEarly = early !== undefined && early.dataDir === cfg.DATA_DIR && early.shard === cfg.SHARD && !this.#checkpointOnly
    this.#snapshots = useEarly ? early.snapshots : new SnapshotStore(cfg.DATA_DIR, cfg.SHARD)
    this.#earlyStaged = useEarly ? early.staged : undefined
    this.#windows = {
      sizeMs: cfg.WINDOW_SIZE_MS,
      allowedLatenessMs: cfg.ALLOWED_LATENESS_MS,
      outOfOrdernessMs: cfg.OUT_OF_ORDERNESS_MS,
      idleTimeoutMs: cfg.IDLE_TIMEOUT_MS,
      retentionMs: cfg.RETENTION_MS,
    }
    this.#fault = faultInjector(cfg.FAULT)
    this.#volume = new VolumeHealth(log, metrics, cfg.DATA_DIR, nowMs)
  }

  get phase(): Phase {
    return this.#phase
  }

  ready(): boolean {
    return this.#phase === 'running'
  }

  status() {
    return {
      role: 'opb',
      pipeline: this.#pipeline,
      shard: this.cfg.SHARD,
      delivery: this.cfg.DELIVERY,
      phase: this.#phase,
      inputOffset: this.#meta.inputOffset,
      lag: this.#lag,
      watermark: this.#meta.watermark,
      lastChangelogOffset: this.#lastChangelogOffset,
      commits: this.#commits,
      lateEvents: this.#meta.late,
      keys: this.#store?.windowCount() ?? 0,
      lastSnapshot: this.#lastSnapshot ? { snapshotId: this.#lastSnapshot.snapshotId, kind: this.#lastSnapshot.kind, sizeBytes: this.#lastSnapshot.sizeBytes, createdAt: this.#lastSnapshot.createdAt } : null,
      lastRecovery: this.#recoveries.at(-1) ?? null,
      recoveries: this.#recoveries.length,
      lastError: this.#lastError ?? null,
      volume: this.#volume.status(),
    }
  }

  /** Not healthy while writes to the data volume fail (see VolumeHealth); it keeps processing meanwhile when it can. */
  health(): { ok: boolean; detail: string } {
    return this.#volume.health()
  }

  #to(next: Phase): void {
    if (!NEXT[this.#phase].includes(next)) throw new Error(`OpB shard ${this.cfg.SHARD}: no transition ${this.#phase} -> ${next}`)
    this.log.info({ from: this.#phase, to: next }, 'phase')
    this.#phase = next
  }

  /** Local recovery, DESIGN.md "Recovering one OpB shard". */
  async recover(startedAt: number, topicsReady: Promise<unknown> = Promise.resolve()): Promise<RecoveryReport> {
    const t0 = this.nowMs()
    this.#to('fencing')
    // What a process that died mid-snapshot, or wrote to a full disk, left behind.
    const leftovers = await this.#snapshots.removeLeftovers()
    if (leftovers.length > 0) this.log.warn({ leftovers }, 'removed temporary snapshot directories left by an earlier failure')
    // Checking the local snapshots needs no broker: it runs while the fence goes out.
    const live = join(this.cfg.DATA_DIR, 'live')
    await this.#store?.close()
    this.#store = undefined
    const staged = this.#checkpointOnly ? undefined : (this.#earlyStaged ?? this.#snapshots.stage(live))
    this.#earlyStaged = undefined
    const planned = this.#snapshots.plan()
    planned.catch(() => undefined) // awaited below; a failed fence must not leave it unhandled
    await Promise.all([this.#producer.fence(), topicsReady])
    await this.hooks.afterFence?.()
    // The changelog's end and the manifest are read only once the fence is
    // complete. The coordinator answers the fence only after a transaction
    // that was committing (a zombie's, or this shard's own last one whose
    // markers were still being written) is complete, so its records are then
    // below the end offset. Read any earlier, they could be missed: input
    // processed twice, a rev emitted again, duplicate seqs in the changelog.
    const [changelogEnd, published] = await Promise.all([
      this.#checkpointOnly ? 0 : this.#changelog.endOffset(),
      latestPublishedManifest(this.#settings, this.cfg.TOPIC_SNAPSHOTS, this.cfg.SHARD, `${this.#pipeline}/${this.cfg.SHARD}`),
    ])
    const t1 = this.nowMs()

    this.#to('loading-snapshot')
    let plan = await planned
    if (this.#checkpointOnly) {
      // Without a changelog only the committed checkpoint is exact: a newer
      // snapshot belongs to an aborted interval, an older one would emit
      // again what was already committed.
      plan = published ? await this.#snapshots.planExact(published.snapshotId) : { chain: [], rejected: plan.rejected }
      if (published && plan.chain.length === 0) throw new SnapshotUnavailableError(published.snapshotId, plan.rejected)
    } else if (published && !plan.chain.some((m) => m.snapshotId === published.snapshotId) && !plan.rejected.some((r) => r.snapshotId === published.snapshotId)) {
      plan.rejected.push({ snapshotId: published.snapshotId, reason: 'published manifest names a snapshot missing from the volume' })
    }
    for (const r of plan.rejected) this.log.warn(r, 'snapshot passed over')
    const { store, bytes } = await this.#snapshots.restore(plan.chain, live, staged)
    this.#store = store
    const head = plan.chain.at(-1)
    const restored = store.meta()
    const t2 = this.nowMs()

    this.#to('replaying')
    const from = restored ? restored.lastChangelogOffset + 1 : 0
    const replay = this.#checkpointOnly ? { records: 0, bytes: 0 } : await replayChangelog(this.#changelog, store, from, changelogEnd, this.log, this.nowMs)
    const meta = store.meta()
    this.#meta = meta ? { inputOffset: meta.inputOffset, watermark: meta.watermark, maxEventTs: meta.maxEventTs, late: meta.late, seq: meta.seq } : initialMeta()
    this.#lastChangelogOffset = Math.max(changelogEnd - 1, meta?.lastChangelogOffset ?? -1)
    store.apply(new Map(), newStoreMeta(this.#meta, this.#lastChangelogOffset))
    const t3 = this.nowMs()

    // Resume: the input position comes from the restored state. The idle
    // clock restarts now, so a backlog is never taken for idleness.
    this.#lastEventAtMs = t3
    this.#txOpen = false
    this.#txIngest = []
    this.#dirty.clear()
    this.#lastSnapshot = this.#checkpointOnly ? head : undefined // with a changelog, the next snapshot is a full one
    this.#lastSnapshotAt = t3
    this.#to('running')
    const t4 = this.nowMs()
    const report: RecoveryReport = {
      startedAt,
      readyAt: t4,
      timeToRecoverMs: t4 - startedAt,
      phasesMs: { fence: t1 - t0, snapshotLoad: t2 - t1, replay: t3 - t2, resume: t4 - t3 },
      snapshot: head ? { snapshotId: head.snapshotId, kind: head.kind, chain: plan.chain.length, bytes } : null,
      rejectedSnapshots: plan.rejected,
      publishedManifest: published?.snapshotId ?? null,
      replayedRecords: replay.records,
      replayedBytes: replay.bytes,
      changelogFrom: from,
      changelogTo: changelogEnd,
      inputOffset: this.#meta.inputOffset,
      keys: store.windowCount(),
      firstCommitAt: null,
      timeToFirstCommitMs: null,
    }
    this.#recoveries.push(report)
    if (this.#volume.failing !== 'snapshot') this.#volume.written() // the live store was written whole
    this.metrics.timeToRecover.set(report.timeToRecoverMs)
    for (const [phase, ms] of Object.entries(report.phasesMs)) this.metrics.recoveryPhase.set({ phase }, ms)
    this.metrics.replayedRecords.inc(replay.records)
    this.metrics.replayedBytes.inc(replay.bytes)
    this.metrics.stateKeys.set(report.keys)
    this.log.info({ recovery: report }, 'recovered')
    return report
  }

  /** Runs commit intervals until stopped. On a failed transaction: abort and recover from the last committed point. */
  async run(): Promise<void> {
    while (!this.#stopping) {
      try {
        await this.#interval()
        if (this.#checkpointOnly) await this.#maybeCheckpoint()
        else await this.#snapshotWithoutStopping()
      } catch (err) {
        if (this.#stopping) break
        this.#lastError = describeError(err)
        if (isVolumeError(err)) this.#volume.failed('state', err)
        this.metrics.transactions.inc({ outcome: 'aborted' })
        this.#txOpen = false
        if (this.#producer.fenced) {
          // Another process owns the shard now (or the coordinator timed our
          // transaction out). Registering again could abort the owner's open
          // transaction (see TxnProducer.fence): stop instead.
          this.log.error({ err }, 'producer fenced; stopping without registering again')
          this.#to('failed')
          throw err
        }
        this.log.error({ err }, 'commit interval failed; aborting and recovering from the last committed point')
        await this.#producer.abort().catch((abortErr: unknown) => this.log.warn({ err: abortErr }, 'abort failed'))
        // Recovery's fence ends what is still open with this process's epoch;
        // if another process owns the shard by now, it throws and we exit.
        this.#to('failed')
        await this.#recoverWithBackoff()
      }
    }
  }

  /** Recovery after a failed interval; the broker may be away for a while (a restart), so retry. */
  async #recoverWithBackoff(): Promise<void> {
    for (let attempt = 0; !this.#stopping; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5000)))
      try {
        await this.recover(this.nowMs())
        return
      } catch (err) {
        if ((err as Error).name === 'ProducerFencedError') throw err
        this.#lastError = describeError(err)
        if (isVolumeError(err)) this.#volume.failed('recovery', err)
        this.log.warn({ err, attempt }, 'recovery attempt failed; retrying')
        if (this.#phase !== 'failed') this.#to('failed')
      }
    }
  }

  async #interval(): Promise<void> {
    const store = this.#store!
    const start = this.nowMs()
    const deadline = start + this.cfg.COMMIT_INTERVAL_MS
    const events: RideEvent[] = []
    const offsets: number[] = []
    let offset = this.#meta.inputOffset
    let caughtUp = false
    let skipped = 0
    while (events.length + skipped < this.cfg.COMMIT_MAX_RECORDS) {
      const wait = Math.max(0, deadline - this.nowMs())
      const r = await this.#input.fetch(offset, { maxWaitMs: wait, maxBytes: 4 << 20 })
      // At most COMMIT_MAX_RECORDS per transaction: the rest of the fetch is read again next time.
      let next = r.nextOffset
      for (const rec of r.records) {
        if (events.length + skipped >= this.cfg.COMMIT_MAX_RECORDS) {
          next = rec.offset
          break
        }
        const e = decodeEvent(rec.value)
        if (e) {
          events.push(e)
          offsets.push(rec.offset)
        }
        else skipped++
      }
      offset = next
      this.#lag = Math.max(0, r.lastStableOffset - offset)
      caughtUp = offset >= r.lastStableOffset
      if (this.nowMs() >= deadline || this.#stopping) break
    }
    if (skipped > 0) this.log.warn({ skipped }, 'records on the input that are not enriched events were skipped')
    this.metrics.recordsIn.inc(events.length + skipped)
    this.metrics.lag.set(this.#lag)

    const now = this.nowMs()
    const result = processBatch(store, this.#meta, { events, offsets, nextInputOffset: offset, nowMs: now, caughtUp, lastEventAtMs: this.#lastEventAtMs }, this.#windows, this.cfg.SHARD)
    // A watermark that moved without closing a window needs no transaction:
    // it is recomputed from the same inputs next time.
    const nothing = result.changes.size === 0 && result.late.length === 0 && offset === this.#meta.inputOffset && !this.#pendingManifest
    if (nothing) return
    if (this.#checkpointOnly) return this.#accumulate(result, events)

    const commitNo = ++this.#commits
    this.#fault('before-commit', commitNo)
    const shard = this.cfg.SHARD
    const records: OutgoingRecord[] = []
    for (const [key, agg] of result.changes) records.push({ topic: this.cfg.TOPIC_CHANGELOG, partition: shard, key, value: agg ? encodeWindowValue(agg) : null })
    records.push({ topic: this.cfg.TOPIC_CHANGELOG, partition: shard, key: META_KEY, value: encodeMeta(result.meta) })
    const changelogCount = records.length
    for (const o of result.output) records.push({ topic: this.cfg.TOPIC_OUTPUT, partition: shard, key: `${o.zone}|${o.windowStart}`, value: encodeOutput(o) })
    for (const l of result.late) records.push({ topic: this.cfg.TOPIC_LATE, partition: shard, key: l.zone, value: encodeJson(l) })
    const manifest = this.#pendingManifest
    if (manifest) records.push({ topic: this.cfg.TOPIC_SNAPSHOTS, partition: shard, key: `${this.#pipeline}/${shard}`, value: encodeJson(manifest) })

    const t0 = this.nowMs()
    await this.#producer.begin()
    const sent = await this.#producer.send(records)
    this.#fault('during-commit', commitNo)
    await this.#producer.commit()
    const committedAt = this.nowMs()
    this.#noteCommit(committedAt)
    this.metrics.commitLatency.observe(committedAt - t0)
    this.metrics.transactions.inc({ outcome: 'committed' })
    this.#fault('after-commit', commitNo)

    const base = sent.baseOffsets.get(`${this.cfg.TOPIC_CHANGELOG}:${shard}`)
    if (base !== undefined) this.#lastChangelogOffset = base + changelogCount - 1
    this.#meta = result.meta
    this.#lastEventAtMs = result.lastEventAtMs
    this.#pendingManifest = undefined
    store.apply(result.changes, newStoreMeta(result.meta, this.#lastChangelogOffset))
    for (const key of result.changes.keys()) this.#dirty.add(key)

    this.metrics.recordsOut.inc({ topic: this.cfg.TOPIC_OUTPUT }, result.output.length)
    this.metrics.recordsOut.inc({ topic: this.cfg.TOPIC_CHANGELOG }, changelogCount)
    if (result.late.length) {
      this.metrics.late.inc(result.late.length)
      this.metrics.recordsOut.inc({ topic: this.cfg.TOPIC_LATE }, result.late.length)
    }
    for (const e of events) this.metrics.endToEnd.observe(committedAt - e.ingestMs)
  }

  /**
   * Checkpoint-only mode, within the open interval: the output goes out in
   * the transaction and the store takes the changes at once (it is never
   * trusted after a crash: recovery restores the committed checkpoint).
   */
  async #accumulate(result: BatchResult, events: RideEvent[]): Promise<void> {
    if (!this.#txOpen) {
      await this.#producer.begin()
      this.#txOpen = true
    }
    const shard = this.cfg.SHARD
    const records: OutgoingRecord[] = []
    for (const o of result.output) records.push({ topic: this.cfg.TOPIC_OUTPUT, partition: shard, key: `${o.zone}|${o.windowStart}`, value: encodeOutput(o) })
    for (const l of result.late) records.push({ topic: this.cfg.TOPIC_LATE, partition: shard, key: l.zone, value: encodeJson(l) })
    await this.#producer.send(records)
    this.#meta = result.meta
    this.#lastEventAtMs = result.lastEventAtMs
    this.#store!.apply(result.changes, newStoreMeta(result.meta, -1))
    for (const e of events) this.#txIngest.push(e.ingestMs)
    this.metrics.recordsOut.inc({ topic: this.cfg.TOPIC_OUTPUT }, result.output.length)
    if (result.late.length) {
      this.metrics.late.inc(result.late.length)
      this.metrics.recordsOut.inc({ topic: this.cfg.TOPIC_LATE }, result.late.length)
    }
  }

  /** Checkpoint-only mode: a full snapshot, then its manifest and everything since the last one committed together. */
  async #maybeCheckpoint(): Promise<void> {
    const now = this.nowMs()
    if (now - this.#lastSnapshotAt < this.cfg.SNAPSHOT_INTERVAL_MS || !this.#txOpen) return
    this.#lastSnapshotAt = now
    const commitNo = ++this.#commits
    this.#fault('before-commit', commitNo)
    const t0 = this.nowMs()
    const m = await this.#snapshots.takeFull(this.#store!, this.cfg.TOPIC_ENRICHED, now)
    const snapMs = this.nowMs() - t0
    await this.#producer.send([{ topic: this.cfg.TOPIC_SNAPSHOTS, partition: this.cfg.SHARD, key: `${this.#pipeline}/${this.cfg.SHARD}`, value: encodeJson(m) }])
    this.#fault('during-commit', commitNo)
    const t1 = this.nowMs()
    await this.#producer.commit()
    this.#txOpen = false
    const committedAt = this.nowMs()
    this.#noteCommit(committedAt)
    this.#fault('after-commit', commitNo)
    this.#lastSnapshot = m
    this.metrics.commitLatency.observe(committedAt - t1)
    this.metrics.transactions.inc({ outcome: 'committed' })
    for (const ingest of this.#txIngest) this.metrics.endToEnd.observe(committedAt - ingest)
    this.#txIngest = []
    this.metrics.snapshotDuration.observe({ kind: m.kind }, snapMs)
    this.metrics.snapshotBytes.set({ kind: m.kind }, m.sizeBytes)
    this.metrics.stateKeys.set(this.#store!.windowCount())
    // Keep the committed checkpoint and the ones before it; nothing newer exists.
    const removed = await this.#snapshots.prune(this.cfg.SNAPSHOT_KEEP)
    this.log.info({ snapshotId: m.snapshotId, sizeBytes: m.sizeBytes, keys: m.keys, ms: snapMs, removed: removed.length }, 'checkpoint committed')
  }

  #noteCommit(committedAt: number): void {
    const last = this.#recoveries.at(-1)
    if (last && last.firstCommitAt === null) {
      last.firstCommitAt = committedAt
      last.timeToFirstCommitMs = committedAt - last.startedAt
      this.log.info({ timeToFirstCommitMs: last.timeToFirstCommitMs }, 'first commit after recovery')
    }
  }

  /**
   * A snapshot that fails (a full disk, say) stops nothing: the commit it
   * follows is done, and the changelog holds the state. It is tried again
   * after the next snapshot interval, with the keys it missed.
   */
  async #snapshotWithoutStopping(): Promise<void> {
    const failing = this.#volume.failing === 'snapshot'
    try {
      const took = await this.#maybeSnapshot()
      if (took && failing) this.#volume.written()
    } catch (err) {
      this.#lastError = describeError(err)
      this.#volume.failed('snapshot', err)
    }
  }

  /** Takes a snapshot when one is due; says whether it did. */
  async #maybeSnapshot(): Promise<boolean> {
    const now = this.nowMs()
    if (now - this.#lastSnapshotAt < this.cfg.SNAPSHOT_INTERVAL_MS) return false
    if (this.#lastSnapshot && this.#dirty.size === 0 && this.#lastSnapshot.inputOffsets[`${this.cfg.TOPIC_ENRICHED}:${this.cfg.SHARD}`] === this.#meta.inputOffset) return false
    this.#lastSnapshotAt = now
    const store = this.#store!
    const t0 = this.nowMs()
    const partial = this.cfg.SNAPSHOT_MODE === 'incremental' && this.#lastSnapshot !== undefined && this.#partialsSinceFull < this.cfg.SNAPSHOT_FULL_EVERY
    const m = partial
      ? await this.#snapshots.takePartial(store, this.#dirty, this.#lastSnapshot!, this.cfg.TOPIC_ENRICHED, now)
      : await this.#snapshots.takeFull(store, this.cfg.TOPIC_ENRICHED, now)
    this.#partialsSinceFull = partial ? this.#partialsSinceFull + 1 : 0
    this.#dirty.clear()
    this.#lastSnapshot = m
    this.#pendingManifest = m
    const ms = this.nowMs() - t0
    this.metrics.snapshotDuration.observe({ kind: m.kind }, ms)
    this.metrics.snapshotBytes.set({ kind: m.kind }, m.sizeBytes)
    this.metrics.stateKeys.set(store.windowCount())
    const removed = await this.#snapshots.prune(this.cfg.SNAPSHOT_KEEP)
    this.log.info({ snapshotId: m.snapshotId, kind: m.kind, sizeBytes: m.sizeBytes, keys: m.keys, ms, removed: removed.length }, 'snapshot taken')
    return true
  }

  async stop(): Promise<void> {
    this.#stopping = true
  }

  async close(): Promise<void> {
    if (this.#phase !== 'stopped') {
      if (this.#phase !== 'stopping') this.#to('stopping')
      await this.#producer.abort().catch((err: unknown) => this.log.warn({ err }, 'abort on close failed'))
      await Promise.allSettled([this.#producer.close(), this.#input.close(), this.#changelog.close()])
      await this.#store?.close()
      this.#to('stopped')
    }
  }
}
