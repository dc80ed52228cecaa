import { join } from 'node:path'
import type { Logger } from 'pino'
import type { OpbPhase, RecoveryReport } from '@ridepulse/contracts'
import type { BatchProducer, KafkaSettings, PartitionReader } from '@ridepulse/kafka'
import type { OpbConfig } from '../config.js'
import { initialMeta, type ShardMeta } from '../core/records.js'
import type { WorkerHooks } from '../hooks.js'
import { SnapshotUnavailableError, type RestorePlan, type SnapshotManifest, type SnapshotStore, type Staged } from '../store/snapshots.js'
import type { RemoteSnapshots } from '../store/remote.js'
import { newStoreMeta, type StateStore } from '../store/state-store.js'
import { latestPublishedManifest, replayChangelog } from './changelog.js'

/** What recovery works with: the shard's producer, its changelog and its volume. */
export interface RecoveryInputs {
  cfg: OpbConfig
  log: Logger
  nowMs: () => number
  hooks: WorkerHooks
  settings: KafkaSettings
  producer: BatchProducer
  changelog: PartitionReader
  snapshots: SnapshotStore
  /** No changelog: only the committed checkpoint is exact. */
  checkpointOnly: boolean
  /** Copies of full snapshots in an object store, used when the volume has no usable snapshot (the client is loaded then). */
  remote?: () => Promise<RemoteSnapshots>
  /**
   * A standby taking over: its own store, fed by the committed changelog,
   * stands in for the snapshot; only the fence, the tail and the resume remain.
   */
  hot?: { store: StateStore; head: SnapshotManifest | undefined }
}

/** A shard back at its last committed point. */
export interface Recovered {
  store: StateStore
  meta: ShardMeta
  lastChangelogOffset: number
  /** The newest snapshot restored, the start of the chain for the next partial one. */
  head: SnapshotManifest | undefined
  report: RecoveryReport
}

/**
 * Local recovery (docs/design.md, "Recovering one OpB shard"): fence, read
 * the changelog's end and the published manifest, restore the newest valid
 * snapshot chain, replay the changelog from it to the end, and resume from
 * the input position the restored state holds. `to` moves the shard through
 * its phases; `resume` takes the restored state just before the shard turns
 * running; `staged` is the newest base already being copied (at start-up).
 */
export async function recoverShard(
  r: RecoveryInputs,
  to: (phase: OpbPhase) => void,
  resume: (state: Omit<Recovered, 'report'>) => void,
  startedAt: number,
  staged: Staged | undefined,
  topicsReady: Promise<unknown>,
): Promise<Recovered> {
  const { cfg, log } = r
  const t0 = r.nowMs()
  to('fencing')
  // What a process that died mid-snapshot, or wrote to a full disk, left behind.
  const leftovers = await r.snapshots.removeLeftovers()
  if (leftovers.length > 0) log.warn({ leftovers }, 'removed temporary snapshot directories left by an earlier failure')
  // Checking the local snapshots needs no broker: it runs while the fence goes out.
  const live = join(cfg.DATA_DIR, 'live')
  const copying = r.checkpointOnly || r.hot ? undefined : (staged ?? r.snapshots.stage(live))
  const planned: Promise<RestorePlan> = r.hot ? Promise.resolve({ chain: [], rejected: [] }) : r.snapshots.plan()
  planned.catch(() => undefined) // awaited below; a failed fence must not leave it unhandled
  await Promise.all([r.producer.fence(), topicsReady])
  await r.hooks.afterFence?.()
  // The changelog's end and the manifest are read only once the fence is
  // complete. The coordinator answers the fence only after a transaction
  // that was committing (a zombie's, or this shard's own last one whose
  // markers were still being written) is complete, so its records are then
  // below the end offset. Read any earlier, they could be missed: input
  // processed twice, a rev emitted again, duplicate seqs in the changelog.
  const [changelogEnd, published] = await Promise.all([
    r.checkpointOnly ? 0 : r.changelog.endOffset(),
    r.hot ? undefined : latestPublishedManifest(r.settings, cfg.TOPIC_SNAPSHOTS, cfg.SHARD, `${cfg.PIPELINE}/${cfg.SHARD}`),
  ])
  const t1 = r.nowMs()

  to('loading-snapshot')
  let plan = await planned
  if (r.checkpointOnly) {
    // Without a changelog only the committed checkpoint is exact: a newer
    // snapshot belongs to an aborted interval, an older one would emit
    // again what was already committed.
    plan = published ? await r.snapshots.planExact(published.snapshotId) : { chain: [], rejected: plan.rejected }
    if (published && plan.chain.length === 0) throw new SnapshotUnavailableError(published.snapshotId, plan.rejected)
  } else if (published && !plan.chain.some((m) => m.snapshotId === published.snapshotId) && !plan.rejected.some((x) => x.snapshotId === published.snapshotId)) {
    plan.rejected.push({ snapshotId: published.snapshotId, reason: 'published manifest names a snapshot missing from the volume' })
  }
  let fetched: RemoteFetch | undefined
  if (plan.chain.length === 0 && r.remote && !r.hot) {
    // Nothing usable on the volume (a new or wiped one): the newest whole
    // copy in the object store, downloaded onto the volume, beats replaying
    // the whole changelog.
    fetched = await fetchRemote(r.remote, r.snapshots, cfg.SHARD, changelogEnd, log, r.nowMs)
    plan.rejected.push(...fetched.rejected)
    if (fetched.manifest) plan = { chain: [fetched.manifest], rejected: plan.rejected }
  }
  for (const x of plan.rejected) log.warn(x, 'snapshot passed over')
  const { store, bytes } = r.hot ? { store: r.hot.store, bytes: 0 } : await r.snapshots.restore(plan.chain, live, copying)
  const head = r.hot ? r.hot.head : plan.chain.at(-1)
  const restored = store.meta()
  const t2 = r.nowMs()

  to('replaying')
  const from = restored ? restored.lastChangelogOffset + 1 : 0
  let replay: { records: number; bytes: number }
  let meta: ShardMeta
  let lastChangelogOffset: number
  try {
    replay = r.checkpointOnly ? { records: 0, bytes: 0 } : await replayChangelog(r.changelog, store, from, changelogEnd, log, r.nowMs)
    const m = store.meta()
    meta = m ? { inputOffset: m.inputOffset, watermark: m.watermark, maxEventTs: m.maxEventTs, late: m.late, seq: m.seq } : initialMeta()
    lastChangelogOffset = Math.max(changelogEnd - 1, m?.lastChangelogOffset ?? -1)
    store.apply(new Map(), newStoreMeta(meta, lastChangelogOffset))
  } catch (err) {
    await store.close() // the next attempt builds the live store again
    throw err
  }
  const t3 = r.nowMs()

  resume({ store, meta, lastChangelogOffset, head })
  to('running')
  const t4 = r.nowMs()
  const report: RecoveryReport = {
    startedAt,
    readyAt: t4,
    timeToRecoverMs: t4 - startedAt,
    phasesMs: { fence: t1 - t0, snapshotLoad: t2 - t1, replay: t3 - t2, resume: t4 - t3 },
    snapshot: r.hot
      ? null
      : head
      ? { snapshotId: head.snapshotId, kind: head.kind, chain: plan.chain.length, bytes, source: fetched?.manifest ? 'remote' : 'local', ...(fetched?.manifest ? { downloadMs: fetched.ms } : {}) }
      : null,
    rejectedSnapshots: plan.rejected,
    publishedManifest: published?.snapshotId ?? null,
    replayedRecords: replay.records,
    replayedBytes: replay.bytes,
    changelogFrom: from,
    changelogTo: changelogEnd,
    inputOffset: meta.inputOffset,
    keys: store.windowCount(),
    firstCommitAt: null,
    timeToFirstCommitMs: null,
  }
  return { store, meta, lastChangelogOffset, head, report }
}

interface RemoteFetch {
  manifest?: SnapshotManifest
  rejected: { snapshotId: string; reason: string }[]
  ms: number
}

/**
 * The newest whole copy in the object store that fits this changelog,
 * downloaded and verified into the volume's snapshots. A copy that fails its
 * checksum is passed over for the one before; a store that cannot be reached
 * is reported and the shard replays the whole changelog instead (slower,
 * as exact).
 */
async function fetchRemote(client: () => Promise<RemoteSnapshots>, snapshots: SnapshotStore, shard: number, changelogEnd: number, log: Logger, nowMs: () => number): Promise<RemoteFetch> {
  const t0 = nowMs()
  const rejected: { snapshotId: string; reason: string }[] = []
  try {
    const remote = await client()
    for (const id of await remote.ids()) {
      const m = await remote.manifest(id, shard).catch((err: unknown) => {
        rejected.push({ snapshotId: id, reason: `remote copy: ${(err as Error).message}` })
        return undefined
      })
      if (!m) continue
      if (m.lastChangelogOffset >= changelogEnd) {
        // Written against a changelog that held more than this one: the topic was recreated.
        rejected.push({ snapshotId: id, reason: `remote copy: holds changelog offset ${m.lastChangelogOffset}, beyond the changelog's end ${changelogEnd}` })
        continue
      }
      try {
        const { bytes } = await remote.download(m, snapshots.root)
        log.info({ snapshotId: id, bytes, ms: nowMs() - t0, where: remote.where }, 'snapshot restored from the object store')
        return { manifest: m, rejected, ms: nowMs() - t0 }
      } catch (err) {
        rejected.push({ snapshotId: id, reason: `remote copy: ${(err as Error).message}` })
        if (err instanceof Error && err.name === 'RemoteSnapshotError') break // the store itself fails: do not try every copy
      }
    }
  } catch (err) {
    rejected.push({ snapshotId: '(object store)', reason: (err as Error).message })
  }
  return { rejected, ms: nowMs() - t0 }
}
