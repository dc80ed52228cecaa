import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { z } from 'zod'
import { encodeJson } from '@ridepulse/contracts'
import { PartitionReader, type KafkaSettings, type OutgoingRecord } from '@ridepulse/kafka'
import type { WindowAgg } from '../core/aggregate.js'
import { decodeMeta, decodeWindowValue, META_KEY } from '../core/records.js'
import type { OpbConfig } from '../config.js'
import type { Metrics } from '../metrics.js'
import type { SnapshotManifest, SnapshotStore } from '../store/snapshots.js'
import { newStoreMeta, type StateStore, type StoreMeta } from '../store/state-store.js'
import { ActiveWatch, type DeathReason } from './standby-watch.js'

/**
 * Hot standby of one OpB shard (docs/design.md, "Standby shards").
 *
 * The active announces itself on the shard's partition of the snapshots
 * topic, in its first transaction (key `<pipeline>/<shard>/active`), so only
 * an owner that was not fenced is ever announced; it serves
 * `/standby/watch`, a response that never ends and carries a line every
 * STANDBY_HEARTBEAT_MS. The standby follows the changelog read_committed
 * into its own store, takes its own snapshots, and holds that watch open:
 * the kernel ends the connection the moment the active's process dies, and
 * a node gone quiet stops the beats. Either way the standby takes over with
 * the shard's transactional id (see OpbShard.promote).
 */

export const announcementSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().positive(),
  /** One per process: a process restarted at the same address is another one. */
  incarnation: z.string().min(1),
  since: z.number(),
  /**
   * The shard's standby takeovers so far by slot (STANDBY_SLOT), this
   * owner's included: each owner carries its predecessor's counts on, so a
   * reader that missed an owner (the operator, polling) still counts its
   * takeover.
   */
  takeovers: z.array(z.number().int().nonnegative()).max(2).optional(),
})
export type Announcement = z.infer<typeof announcementSchema>

export const announcementKey = (cfg: Pick<OpbConfig, 'PIPELINE' | 'SHARD'>) => `${cfg.PIPELINE}/${cfg.SHARD}/active`

export const newIncarnation = () => randomBytes(6).toString('hex')

/** The announcement record the active commits with its first transaction. */
export const announcementRecord = (cfg: OpbConfig, a: Announcement): OutgoingRecord => ({
  topic: cfg.TOPIC_SNAPSHOTS,
  partition: cfg.SHARD,
  key: announcementKey(cfg),
  value: encodeJson(a),
})

/** The newest announcement of the shard's active, read to the end of the snapshots partition (read_committed). */
export class AnnouncementReader {
  readonly #reader: PartitionReader
  #offset = 0
  #latest: Announcement | undefined
  /** When each owner read so far took the shard (its announcement's `since`), oldest first. */
  readonly changes: number[] = []

  constructor(settings: KafkaSettings, private readonly cfg: OpbConfig) {
    this.#reader = new PartitionReader(settings, cfg.TOPIC_SNAPSHOTS, cfg.SHARD)
  }

  /** Reads what was committed since the last call; `waitMs` bounds the wait when nothing is new. */
  async poll(waitMs: number): Promise<Announcement | undefined> {
    const key = announcementKey(this.cfg)
    for (;;) {
      const r = await this.#reader.fetch(this.#offset, { maxWaitMs: waitMs, maxBytes: 1 << 20 })
      for (const rec of r.records) {
        if (rec.key?.toString() !== key || !rec.value) continue
        const parsed = announcementSchema.safeParse(JSON.parse(rec.value.toString()))
        if (parsed.success) {
          if (parsed.data.incarnation !== this.#latest?.incarnation) this.changes.push(parsed.data.since)
          this.#latest = parsed.data
        }
      }
      this.#offset = r.nextOffset
      if (this.#offset >= r.lastStableOffset) return this.#latest
      waitMs = 0
    }
  }

  async close(): Promise<void> {
    await this.#reader.close()
  }
}

/** Owner changes within this window that make a standby wary of silence. */
export const FLAP_WINDOW_MS = 5 * 60_000
export const FLAP_CHANGES = 3

/**
 * The lease a standby gives a silent owner: the configured one, or four
 * times it when the shard changed owners FLAP_CHANGES times within
 * FLAP_WINDOW_MS (a link that keeps dropping would otherwise swap the pair
 * again and again). A closed connection, a certain death, is never delayed.
 */
export function leaseFor(changes: readonly number[], nowMs: number, leaseMs: number): number {
  const recent = changes.filter((t) => nowMs - t <= FLAP_WINDOW_MS).length
  return recent >= FLAP_CHANGES ? leaseMs * 4 : leaseMs
}

/** The counts an owner announces: its predecessor's, plus one for its own slot when it took over as a standby. */
export function carriedTakeovers(previous: Announcement | undefined, slot: number, tookOver: boolean): number[] {
  const counts = [0, 0].map((_, i) => previous?.takeovers?.[i] ?? 0)
  if (tookOver) counts[slot] = (counts[slot] ?? 0) + 1
  return counts
}

export interface StandbyStatus {
  active: { host: string; port: number; incarnation: string } | null
  watching: boolean
  position: number
  lagRecords: number
  lagMs: number
  snapshots: number
  lastSnapshot: string | null
}

/**
 * A standby's state: its own store, fed by the changelog read_committed
 * from where its snapshot (or nothing) leaves off, snapshotted at
 * transaction boundaries on its own volume.
 */
export class ChangelogFollower {
  #position: number
  #lag = 0
  #lagMs = 0
  #lastMetaOffset: number
  #lastRecordOffset = -1
  #stopped = false
  #lastSnapshotAt: number
  #snapshots = 0
  #head: SnapshotManifest | undefined
  #partials = 0
  readonly #dirty = new Set<string>()

  constructor(
    readonly store: StateStore,
    private readonly reader: PartitionReader,
    private readonly snapshots: SnapshotStore,
    private readonly cfg: OpbConfig,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly nowMs: () => number,
    head: SnapshotManifest | undefined,
  ) {
    const meta = store.meta()
    this.#position = meta ? meta.lastChangelogOffset + 1 : 0
    this.#lastMetaOffset = meta?.lastChangelogOffset ?? -1
    this.#lastSnapshotAt = nowMs()
    this.#head = head
  }

  get position(): number {
    return this.#position
  }

  get lagRecords(): number {
    return this.#lag
  }

  get lagMs(): number {
    return this.#lagMs
  }

  get snapshotsTaken(): number {
    return this.#snapshots
  }

  get head(): SnapshotManifest | undefined {
    return this.#head
  }

  /** One fetch applied; `waitMs` bounds the wait when the changelog has nothing new. */
  async step(waitMs: number): Promise<void> {
    const r = await this.reader.fetch(this.#position, { maxWaitMs: waitMs, maxBytes: 4 << 20 })
    if (r.records.length > 0) {
      const latest = new Map<string, WindowAgg | null>()
      let meta: StoreMeta | undefined
      for (const rec of r.records) {
        const key = rec.key?.toString() ?? ''
        this.#lastRecordOffset = rec.offset
        if (key === META_KEY) {
          if (rec.value) {
            meta = newStoreMeta(decodeMeta(rec.value), rec.offset)
            this.#lastMetaOffset = rec.offset
          }
          continue
        }
        latest.set(key, rec.value ? decodeWindowValue(rec.value) : null)
        this.#dirty.add(key)
      }
      this.store.replay(latest, meta)
      const last = r.records.at(-1)!
      this.#lagMs = Math.max(0, this.nowMs() - last.timestamp)
    }
    this.#position = r.nextOffset
    this.#lag = Math.max(0, r.lastStableOffset - this.#position)
    if (this.#lag === 0) this.#lagMs = 0
    this.metrics.standbyLag.set(this.#lag)
    this.metrics.standbyLagSeconds.set(this.#lagMs / 1000)
  }

  /** At a transaction boundary (the last record applied is a transaction's metadata) the store is one committed state. */
  get atBoundary(): boolean {
    return this.#lastRecordOffset === this.#lastMetaOffset
  }

  /** The standby's own snapshot, when one is due and the store is at a boundary; a failure stops nothing. */
  async maybeSnapshot(): Promise<void> {
    const now = this.nowMs()
    if (now - this.#lastSnapshotAt < this.cfg.SNAPSHOT_INTERVAL_MS || !this.atBoundary || this.#dirty.size === 0) return
    this.#lastSnapshotAt = now
    try {
      const partial = this.cfg.SNAPSHOT_MODE === 'incremental' && this.#head !== undefined && this.#partials < this.cfg.SNAPSHOT_FULL_EVERY
      const m = partial
        ? await this.snapshots.takePartial(this.store, this.#dirty, this.#head!, this.cfg.TOPIC_ENRICHED, now)
        : await this.snapshots.takeFull(this.store, this.cfg.TOPIC_ENRICHED, now)
      this.#partials = partial ? this.#partials + 1 : 0
      this.#dirty.clear()
      this.#head = m
      this.#snapshots++
      await this.snapshots.prune(this.cfg.SNAPSHOT_KEEP)
      this.log.debug({ snapshotId: m.snapshotId, kind: m.kind }, 'standby snapshot taken')
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'standby snapshot failed; tried again after the next interval')
    }
  }

  /** Follows until `until` resolves; the store is left as the last fetch made it. */
  async follow(until: Promise<unknown>): Promise<void> {
    let done = false
    void until.then(() => (done = true))
    while (!done && !this.#stopped) {
      // A short wait: a takeover waits for the fetch under way before it uses the store.
      await this.step(25)
      await this.maybeSnapshot()
    }
  }

  stop(): void {
    this.#stopped = true
  }
}

/** What /status says of a standby: whom it watches, how far it has followed, its own snapshots. */
export function standbyStatusOf(sb: { follower: ChangelogFollower | undefined; watch: ActiveWatch | undefined }): StandbyStatus {
  const f = sb.follower
  const a = sb.watch?.active
  return {
    active: a ? { host: a.host, port: a.port, incarnation: a.incarnation } : null,
    watching: sb.watch !== undefined,
    position: f?.position ?? 0,
    lagRecords: f?.lagRecords ?? 0,
    lagMs: f?.lagMs ?? 0,
    snapshots: f?.snapshotsTaken ?? 0,
    lastSnapshot: f?.head?.snapshotId ?? null,
  }
}

/**
 * The announced owner of the shard, watched, if it answers (not `self`, an
 * earlier incarnation of this process at the same address). Slot 1 gives
 * slot 0 up to five leases to claim the shard and announce itself (its
 * recovery and first commit), so that two processes started together do not
 * fence each other. Slot 0 takes a shard nobody has owned at once; when an
 * owner was announced and does not answer, the other process of the pair
 * may be taking the shard over right now (a pod recreated after its owner's
 * death starts within a second or two of it), so slot 0 too gives it three
 * leases to announce itself before it fences. `leasesToWait` overrides
 * both: a standby that was not first in line waits that long for the one
 * that was.
 */
export async function findLiveOwner(settings: KafkaSettings, cfg: OpbConfig, self: string, log: Logger, nowMs: () => number, stopping: () => boolean, leasesToWait?: number): Promise<{ watch?: ActiveWatch; announced?: Announcement }> {
  const reader = new AnnouncementReader(settings, cfg)
  let ownedBefore = false
  let announced: Announcement | undefined
  try {
    const tryWatch = async (): Promise<ActiveWatch | undefined> => {
      announced = await reader.poll(0)
      if (!announced || announced.incarnation === self) return undefined
      ownedBefore = true
      const lease = leaseFor(reader.changes, nowMs(), cfg.STANDBY_LEASE_MS)
      if (lease !== cfg.STANDBY_LEASE_MS) log.warn({ changes: reader.changes.length, leaseMs: lease }, 'the shard changed owners often of late: a silent owner gets a longer lease')
      const watch = new ActiveWatch(announced, lease, cfg.STANDBY_LEASE_MS)
      if (await watch.alive) return watch
      const why = await watch.dead
      log.info({ active: announced, reason: why.reason, detail: why.detail }, 'the announced owner does not answer')
      return undefined
    }
    const found = await tryWatch()
    const leases = leasesToWait ?? (cfg.STANDBY_SLOT !== 0 ? 5 : ownedBefore ? 3 : 0)
    if (found || leases === 0) return { watch: found, announced }
    for (const deadline = nowMs() + leases * cfg.STANDBY_LEASE_MS; nowMs() < deadline && !stopping(); ) {
      await sleep(Math.min(200, cfg.STANDBY_LEASE_MS))
      const w = await tryWatch()
      if (w) return { watch: w, announced }
    }
    return { announced }
  } finally {
    await reader.close()
  }
}

/**
 * Stands by `first` until its owner dies, following a newer owner when one
 * is announced meanwhile, and leaving the shard to a standby ahead in line
 * (it is watched once it announces itself; only if it does not within
 * `yieldLeases` is the death returned). No death: the process is stopping.
 */
export async function awaitOwnerDeath(
  first: ActiveWatch,
  o: { settings: KafkaSettings; cfg: OpbConfig; self: string; log: Logger; nowMs: () => number; stopping: () => boolean; stopped: Promise<unknown>; yieldLeases: number; onWatch: (w: ActiveWatch) => void },
): Promise<{ watch: ActiveWatch; death?: { reason: DeathReason; detail?: string } }> {
  let watch = first
  const follow = (next: ActiveWatch) => {
    o.log.info({ active: next.active }, 'the shard has a new owner: standing by it')
    watch = next
    o.onWatch(next)
  }
  for (;;) {
    const ended = await Promise.race([watch.dead, o.stopped.then(() => undefined)])
    if (!ended) return { watch }
    // The owner may have changed under us (announced anew): watch that one instead.
    const reader = new AnnouncementReader(o.settings, o.cfg)
    const newer = await reader.poll(0).finally(() => void reader.close())
    if (newer && newer.incarnation !== watch.active.incarnation && newer.incarnation !== o.self) {
      const next = new ActiveWatch(newer, leaseFor(reader.changes, o.nowMs(), o.cfg.STANDBY_LEASE_MS), o.cfg.STANDBY_LEASE_MS)
      if (await next.alive) {
        follow(next)
        continue
      }
    }
    if (ended.rank > 0) {
      // Another standby watched the owner before this one (a pod recreated
      // while its old container still ran is this one, or the other): the
      // shard is that one's to take.
      o.log.info({ active: watch.active, rank: ended.rank }, 'the owner is gone and another standby was first in line: leaving the shard to it')
      const { watch: successor } = await findLiveOwner(o.settings, o.cfg, o.self, o.log, o.nowMs, o.stopping, o.yieldLeases)
      if (successor) {
        follow(successor)
        continue
      }
      if (o.stopping()) return { watch }
    }
    return { watch, death: { reason: ended.reason ?? 'unreachable', detail: ended.detail } }
  }
}
