import { join } from 'node:path'
import type { ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { transactionalIdOf, type OpbPhase, type RecoveryReport, type ShardLag } from '@ridepulse/contracts'
import { describeError, PartitionReader, type BatchProducer, type KafkaSettings } from '@ridepulse/kafka'
import { runCommitLoop, type CommitUnit } from '../commit-loop.js'
import { kafkaSettings, type OpbConfig } from '../config.js'
import { RateOfCount } from '../core/rate.js'
import { initialMeta } from '../core/records.js'
import { processBatch, type WindowConfig } from '../core/shard.js'
import { defaultProducer, type WorkerHooks } from '../hooks.js'
import type { Metrics } from '../metrics.js'
import { isVolumeError } from '../store/files.js'
import { SnapshotStore, type SnapshotManifest, type Staged } from '../store/snapshots.js'
import type { StateStore } from '../store/state-store.js'
import { commitStrategy, type CommitStrategy, type ShardState } from './commits.js'
import type { EarlyRestore } from './early-restore.js'
import { readInterval } from './input-batch.js'
import { recoverShard } from './recovery.js'
import { announcementRecord, awaitOwnerDeath, ChangelogFollower, findLiveOwner, carriedTakeovers, newIncarnation, standbyStatusOf } from './standby.js'
import { type ActiveWatch, type DeathReason, Watchers } from './standby-watch.js'
import { RemoteCopies } from './remote-copies.js'
import { VolumeHealth } from './volume-health.js'

export type Phase = OpbPhase

/** How many leases a standby that was not first in line gives the one that was to announce itself. */
const YIELD_LEASES = 3

const NEXT: Record<Phase, Phase[]> = {
  starting: ['fencing', 'standby', 'stopping', 'failed'],
  standby: ['fencing', 'stopping', 'failed'],
  fencing: ['loading-snapshot', 'stopping', 'failed'],
  'loading-snapshot': ['replaying', 'stopping', 'failed'],
  replaying: ['running', 'stopping', 'failed'],
  running: ['fencing', 'stopping', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: [],
  failed: ['fencing', 'stopping'],
}

export type { RecoveryReport }

/** Stopped (SIGTERM) while standing by: nothing to commit or abort. */
export class StoppedWhileStandingByError extends Error {
  constructor() {
    super('stopped while standing by')
    this.name = 'StoppedWhileStandingByError'
  }
}

/**
 * One OpB shard: owns partition `shard` of the input and of the changelog.
 * Its lifecycle is here; recovery is `recovery.ts`, and how a batch is made
 * durable (changelog and snapshots, or checkpoints only) is the commit
 * strategy chosen at start (`commits.ts`).
 */
export class OpbShard implements CommitUnit {
  #phase: Phase = 'starting'
  /** Set by the first recovery. */
  #state: ShardState | undefined
  #stopping = false
  #recoveries: RecoveryReport[] = []
  #lastError: string | undefined
  #lag = 0
  /** The broker's timestamp of the newest input record read. */
  #lastReadTs: number | undefined
  #lastCommitAt: number | undefined
  readonly #lateRate = new RateOfCount()
  readonly producer: BatchProducer
  readonly #settings: KafkaSettings
  readonly #input: PartitionReader
  readonly #changelog: PartitionReader
  readonly #snapshots: SnapshotStore
  readonly #commits: CommitStrategy
  /** The copy of the newest base begun at start-up, for the first recovery only. */
  #earlyStaged: Staged | undefined
  readonly #windows: WindowConfig
  readonly #volume: VolumeHealth
  /** No changelog: one transaction per snapshot interval, committed with a full snapshot's manifest. */
  readonly #checkpointOnly: boolean
  /** Copies of full snapshots in an object store (REMOTE_SNAPSHOTS_BUCKET). */
  readonly #copies: RemoteCopies | undefined
  /** With STANDBY_ENABLED: this process's identity in its announcement, and its standby's state while it stands by. */
  readonly #incarnation = newIncarnation()
  readonly #watchers = new Watchers()
  #standby: { follower: ChangelogFollower | undefined; watch: ActiveWatch | undefined; since: number } | undefined
  #promotions = 0
  /** After a recovery or takeover, the first interval commits what is there at once instead of reading for a whole interval: output flows again sooner. */
  #commitAtOnce = false
  /** The shard's takeovers by slot as its announcements count them (this owner's included); see Announcement. */
  #shardTakeovers = [0, 0]
  #stopRequested: (() => void) | undefined
  readonly #stopped = new Promise<void>((r) => (this.#stopRequested = r))

  constructor(
    readonly cfg: OpbConfig,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly nowMs: () => number = Date.now,
    early?: EarlyRestore,
    readonly hooks: WorkerHooks = {},
  ) {
    const transactionalId = transactionalIdOf(cfg, { role: 'opb', shard: cfg.SHARD })
    this.#settings = kafkaSettings(cfg, transactionalId)
    this.producer = (hooks.producer ?? defaultProducer)(this.#settings, transactionalId)
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
    this.#volume = new VolumeHealth(log, metrics, cfg.DATA_DIR, nowMs)
    const bucket = cfg.REMOTE_SNAPSHOTS_BUCKET
    this.#copies = bucket ? new RemoteCopies({ ...cfg, REMOTE_SNAPSHOTS_BUCKET: bucket }, this.#snapshots, log, metrics, nowMs) : undefined
    this.#commits = commitStrategy({
      cfg,
      log,
      metrics,
      nowMs,
      hooks,
      producer: this.producer,
      snapshots: this.#snapshots,
      volume: this.#volume,
      ...(this.#copies ? { copies: this.#copies } : {}),
      committed: (at) => this.#noteCommit(at),
      snapshotFailed: (err) => {
        this.#lastError = describeError(err)
        this.#volume.failed('snapshot', err)
      },
    })
    metrics.registerLag(() => this.shardLag())
  }

  /** How far behind the shard is, now (see `ShardLag`). */
  shardLag(): ShardLag {
    const now = this.nowMs()
    if (this.#state) this.#lateRate.note(now, this.#state.meta.late)
    const wm = this.#state?.meta.watermark
    const s = (ms: number) => Math.max(0, Math.round(ms) / 1000)
    return {
      records: this.#lag,
      inputSeconds: this.#lag > 0 && this.#lastReadTs !== undefined ? s(now - this.#lastReadTs) : 0,
      watermarkSeconds: wm !== undefined && wm > 0 ? s(now - wm) : null,
      sinceCommitSeconds: this.#lastCommitAt !== undefined ? s(now - this.#lastCommitAt) : null,
      lateEventsPerSecond: Math.round(this.#lateRate.perSecond() * 1000) / 1000,
    }
  }

  get phase(): Phase {
    return this.#phase
  }

  get stopping(): boolean {
    return this.#stopping
  }

  ready(): boolean {
    if (this.#phase === 'standby') {
      const f = this.#standby?.follower
      return f !== undefined && this.#standby?.watch !== undefined && f.lagRecords <= this.cfg.STANDBY_MAX_LAG_RECORDS
    }
    return this.#phase === 'running'
  }

  get #standbyEnabled(): boolean {
    return this.cfg.STANDBY_ENABLED === 'true'
  }

  /** `/standby/watch`: the owner beats for its standby; anything else says it is not the owner. */
  watch(res: ServerResponse): void {
    if (!this.#standbyEnabled || this.#phase !== 'running' || this.#stopping) {
      res.writeHead(409, { 'content-type': 'text/plain', 'x-ridepulse-incarnation': this.#incarnation })
      res.end(`not the shard's owner (${this.#phase})\n`)
      return
    }
    this.#watchers.serve(res, this.#incarnation, this.cfg.STANDBY_HEARTBEAT_MS)
  }

  /** The operator saw the owner's pod deleted: a standby watching the owner at `host` takes over now, not when the kubelet ends the process. */
  ownerGone(host: string): boolean {
    const w = this.#standby?.watch
    if (this.#phase !== 'standby' || !w || w.active.host !== host || this.#stopping) return false
    this.log.warn({ active: w.active }, 'told that the owner\'s pod is deleted: taking the shard over')
    w.ownerGone(`the owner's pod at ${host} was deleted`)
    return true
  }

  status() {
    const st = this.#state
    const meta = st?.meta ?? initialMeta()
    const snap = st?.lastSnapshot
    return {
      role: 'opb',
      pipeline: this.cfg.PIPELINE,
      shard: this.cfg.SHARD,
      delivery: this.producer.delivery,
      phase: this.#phase,
      inputOffset: meta.inputOffset,
      lag: this.#lag,
      shardLag: this.shardLag(),
      watermark: meta.watermark,
      lastChangelogOffset: st?.lastChangelogOffset ?? -1,
      commits: st?.commits ?? 0,
      lateEvents: meta.late,
      keys: st?.store.windowCount() ?? 0,
      lastSnapshot: snap ? { snapshotId: snap.snapshotId, kind: snap.kind, sizeBytes: snap.sizeBytes, createdAt: snap.createdAt } : null,
      lastRecovery: this.#recoveries.at(-1) ?? null,
      recoveries: this.#recoveries.length,
      lastError: this.#lastError ?? null,
      volume: this.#volume.status(),
      remoteSnapshots: this.#copies?.status() ?? null,
      standby: this.#standby ? standbyStatusOf(this.#standby) : null,
      promotions: this.#promotions,
      // The shard's takeovers by slot: an owner's own announcement, a standby's of the owner it watches.
      slotTakeovers: !this.#standbyEnabled ? null : this.#standby ? (this.#standby.watch?.active.takeovers ?? null) : this.#shardTakeovers,
      incarnation: this.#standbyEnabled ? this.#incarnation : null,
      watchers: this.#standbyEnabled ? this.#watchers.count : null,
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

  /**
   * At start: with a standby configured, stand by a live owner, or become the
   * owner when there is none; without, local recovery.
   */
  async start(startedAt: number, topicsReady: Promise<unknown> = Promise.resolve()): Promise<RecoveryReport> {
    if (!this.#standbyEnabled) return this.recover(startedAt, topicsReady)
    await topicsReady
    const { watch: active, announced } = await findLiveOwner(this.#settings, this.cfg, this.#incarnation, this.log, this.nowMs, () => this.#stopping)
    if (active) return this.#standBy(active)
    this.#shardTakeovers = carriedTakeovers(announced, this.cfg.STANDBY_SLOT, false)
    this.log.info('no live owner of the shard: taking it')
    return this.recover(startedAt, topicsReady)
  }

  /**
   * Stands by: the shard's own store from its volume's snapshot (or empty),
   * fed by the committed changelog, until the watched owner dies; then takes
   * the shard over (`recoverShard` with the hot store).
   */
  async #standBy(first: ActiveWatch): Promise<RecoveryReport> {
    this.#to('standby')
    this.metrics.shardActive.set(0)
    this.#standby = { follower: undefined, watch: first, since: this.nowMs() }
    this.log.info({ active: first.active }, 'standing by')
    const live = join(this.cfg.DATA_DIR, 'live')
    await this.#snapshots.removeLeftovers()
    const plan = await this.#snapshots.plan()
    const staged = this.#earlyStaged
    this.#earlyStaged = undefined
    const { store } = await this.#snapshots.restore(plan.chain, live, staged)
    const follower = new ChangelogFollower(store, this.#changelog, this.#snapshots, this.cfg, this.log, this.metrics, this.nowMs, plan.chain.at(-1))
    this.#standby.follower = follower
    let outcome: Awaited<ReturnType<typeof awaitOwnerDeath>> | undefined
    const deathOrStop = awaitOwnerDeath(first, {
      settings: this.#settings, cfg: this.cfg, self: this.#incarnation, log: this.log, nowMs: this.nowMs, stopping: () => this.#stopping, stopped: this.#stopped, yieldLeases: YIELD_LEASES,
      onWatch: (w) => (this.#standby!.watch = w),
    }).then((r) => (outcome = r))
    const following = follower.follow(deathOrStop)
    await following
    const { watch, death } = outcome!
    watch.close()
    if (!death) {
      await store.close()
      throw new StoppedWhileStandingByError()
    }
    const detectedAt = this.nowMs()
    this.log.warn({ reason: death.reason, detail: death.detail, lagRecords: follower.lagRecords }, 'the owner is gone: taking the shard over')
    this.metrics.promotions.inc({ reason: death.reason })
    this.#promotions++
    this.#shardTakeovers = carriedTakeovers(watch.active, this.cfg.STANDBY_SLOT, true)
    return this.#takeOver(store, follower.head, detectedAt, death.reason)
  }

  /** The standby's store becomes the shard's: fence, the tail, resume (`recoverShard` with the hot store). */
  async #takeOver(store: StateStore, head: SnapshotManifest | undefined, detectedAt: number, reason: DeathReason): Promise<RecoveryReport> {
    this.#standby = undefined
    return this.#restore(detectedAt, { hot: { store, head }, promotion: { reason } })
  }

  #announcement() {
    if (!this.#standbyEnabled) return undefined
    return announcementRecord(this.cfg, { host: this.cfg.ADVERTISED_HOST, port: this.cfg.HTTP_PORT, incarnation: this.#incarnation, since: this.nowMs(), takeovers: this.#shardTakeovers })
  }

  /** Local recovery (recovery.ts); the state restored replaces the shard's. */
  async recover(startedAt: number, topicsReady: Promise<unknown> = Promise.resolve()): Promise<RecoveryReport> {
    await this.#commits.idle() // a snapshot being written reads the store
    await this.#state?.store.close()
    const staged = this.#earlyStaged
    this.#earlyStaged = undefined
    return this.#restore(startedAt, { staged, topicsReady })
  }

  /** A recovery or a takeover: the restored state becomes the shard's, reported in /status, the metrics and the log. */
  async #restore(startedAt: number, o: { staged?: Staged; topicsReady?: Promise<unknown>; hot?: { store: StateStore; head: SnapshotManifest | undefined }; promotion?: { reason: DeathReason } }): Promise<RecoveryReport> {
    // Commits are counted over the process's life (a test's fault names the n-th).
    const commits = this.#state?.commits ?? 0
    this.#state = undefined
    const inputs = {
      cfg: this.cfg, log: this.log, nowMs: this.nowMs, hooks: this.hooks, settings: this.#settings, producer: this.producer, changelog: this.#changelog, snapshots: this.#snapshots,
      checkpointOnly: this.#checkpointOnly,
      ...(this.#copies ? { remote: () => this.#copies!.remote() } : {}),
      ...(o.hot ? { hot: o.hot } : {}),
    }
    const { report: restored } = await recoverShard(inputs, (p) => this.#to(p), (r) => {
      // The input position comes from the restored state. The idle clock
      // restarts now, so a backlog is never taken for idleness.
      const state: ShardState = { store: r.store, meta: r.meta, lastChangelogOffset: r.lastChangelogOffset, lastEventAtMs: this.nowMs(), commits, lastSnapshot: undefined }
      this.#state = state
      this.#commits.resumed(state, r.head, this.#announcement())
      this.#commitAtOnce = true
    }, startedAt, o.staged, o.topicsReady ?? Promise.resolve())
    const report = o.promotion ? { ...restored, promotion: o.promotion } : restored
    this.#recoveries.push(report)
    this.metrics.shardActive.set(1)
    if (this.#volume.failing !== 'snapshot') this.#volume.written() // the live store was written whole
    this.metrics.timeToRecover.set(report.timeToRecoverMs)
    for (const [phase, ms] of Object.entries(report.phasesMs)) this.metrics.recoveryPhase.set({ phase }, ms)
    this.metrics.replayedRecords.inc(report.replayedRecords)
    this.metrics.replayedBytes.inc(report.replayedBytes)
    this.metrics.stateKeys.set(report.keys)
    this.log.info({ recovery: report }, o.promotion ? 'took the shard over from standby' : 'recovered')
    return report
  }

  /** Runs commit intervals until stopped; a failed one is aborted and the shard recovers from its last committed point. */
  async run(): Promise<void> {
    await runCommitLoop(this, this.log, this.metrics)
  }

  async interval(): Promise<void> {
    await this.#interval()
    await this.#commits.afterInterval(this.#state!)
    this.#lateRate.note(this.nowMs(), this.#state!.meta.late)
  }

  failed(err: unknown): void {
    this.#lastError = describeError(err)
    if (isVolumeError(err)) this.#volume.failed(this.#phase === 'running' ? 'state' : 'recovery', err)
    this.#commits.failed()
    if (this.#phase !== 'failed') this.#to('failed')
  }

  async restart(): Promise<void> {
    await this.recover(this.nowMs())
  }

  async #interval(): Promise<void> {
    const state = this.#state!
    const deadline = this.nowMs() + (this.#commitAtOnce ? 0 : this.cfg.COMMIT_INTERVAL_MS)
    this.#commitAtOnce = false
    const { events, offsets, nextOffset: offset, caughtUp, skipped, lag, lastReadTs } = await readInterval(this.#input, state.meta.inputOffset, {
      deadline, maxRecords: this.cfg.COMMIT_MAX_RECORDS, nowMs: this.nowMs, stopping: () => this.#stopping,
    })
    this.#lag = lag
    if (lastReadTs !== undefined) this.#lastReadTs = lastReadTs
    if (skipped > 0) this.log.warn({ skipped }, 'records on the input that are not enriched events were skipped')
    this.metrics.recordsIn.inc(events.length + skipped)
    this.metrics.lag.set(this.#lag)

    const now = this.nowMs()
    const result = processBatch(state.store, state.meta, { events, offsets, nextInputOffset: offset, nowMs: now, caughtUp, lastEventAtMs: state.lastEventAtMs }, this.#windows, this.cfg.SHARD)
    // A watermark that moved without closing a window needs no transaction:
    // it is recomputed from the same inputs next time.
    const nothing = result.changes.size === 0 && result.late.length === 0 && offset === state.meta.inputOffset && !this.#commits.pending
    if (nothing) return
    await this.#commits.commit(state, result, events)
  }

  #noteCommit(committedAt: number): void {
    this.#lastCommitAt = committedAt
    const last = this.#recoveries.at(-1)
    if (last && last.firstCommitAt === null) {
      last.firstCommitAt = committedAt
      last.timeToFirstCommitMs = committedAt - last.startedAt
      this.log.info({ timeToFirstCommitMs: last.timeToFirstCommitMs }, 'first commit after recovery')
    }
  }

  /**
   * Stops after the interval under way. An owner with a standby hands the
   * shard over at once: its watches end with a last line that says so, and
   * the first in line fences and takes over while this process finishes (a
   * commit of its own still in flight is either done before the fence or
   * refused by it, and the loop stops either way).
   */
  async stop(): Promise<void> {
    this.#stopping = true
    this.#stopRequested?.()
    if (this.#watchers.count > 0) this.log.info({ watchers: this.#watchers.count }, 'stopping: handing the shard to the standby')
    this.#watchers.endAll()
  }

  /** Resolves when no snapshot copy runs or waits. */
  async copiesIdle(): Promise<void> {
    await this.#copies?.idle()
  }

  async close(): Promise<void> {
    if (this.#phase !== 'stopped') {
      if (this.#phase !== 'stopping') this.#to('stopping')
      await this.producer.abort().catch((err: unknown) => this.log.warn({ err }, 'abort on close failed'))
      await Promise.allSettled([this.producer.close(), this.#input.close(), this.#changelog.close()])
      this.#copies?.close()
      await this.#commits.idle()
      await this.#state?.store.close()
      this.#to('stopped')
    }
  }
}
