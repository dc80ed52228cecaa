import type { Logger } from 'pino'
import type { WindowAgg } from '../core/aggregate.js'
import { decodeMeta, decodeWindowValue, META_KEY } from '../core/records.js'
import { PartitionReader, type KafkaSettings } from '../kafka/client.js'
import { manifestSchema, type SnapshotManifest } from '../store/snapshots.js'
import { newStoreMeta, type StateStore, type StoreMeta } from '../store/state-store.js'

/** The changelog replay stopped below the end offset read after the fence: the restored state would miss committed changes. */
export class ChangelogReplayIncompleteError extends Error {
  constructor(topic: string, shard: number, reached: number, end: number) {
    super(`changelog ${topic}[${shard}] replay stopped at offset ${reached}, below the end offset ${end} read after the fence`)
    this.name = 'ChangelogReplayIncompleteError'
  }
}

/** Fetches in a row that bring a replay no further before it is given up. */
const REPLAY_MAX_STALLS = 20

/** The newest valid manifest published under `key` on the shard's partition of the snapshots topic. */
export async function latestPublishedManifest(settings: KafkaSettings, topic: string, shard: number, key: string): Promise<SnapshotManifest | undefined> {
  const reader = new PartitionReader(settings, topic, shard)
  try {
    const end = await reader.endOffset()
    let latest: SnapshotManifest | undefined
    for (let off = 0; off < end; ) {
      const r = await reader.fetch(off, { maxWaitMs: 50, maxBytes: 1 << 20 })
      for (const rec of r.records) {
        if (rec.key?.toString() !== key || !rec.value) continue
        const parsed = manifestSchema.safeParse(JSON.parse(rec.value.toString()))
        if (parsed.success) latest = parsed.data
      }
      if (r.nextOffset <= off) break
      off = r.nextOffset
    }
    return latest
  } finally {
    await reader.close()
  }
}

/**
 * Replays the shard's changelog partition from `from` to `end` (read after
 * the fence) into `store`. Throws ChangelogReplayIncompleteError when it
 * cannot reach `end`: a state missing committed changes is never resumed from.
 */
export async function replayChangelog(changelog: PartitionReader, store: StateStore, from: number, end: number, log: Logger, nowMs: () => number): Promise<{ records: number; bytes: number }> {
  let records = 0
  let bytes = 0
  let lastLog = nowMs()
  const fetchFrom = (off: number) => changelog.fetch(off, { maxWaitMs: 50, maxBytes: 8 << 20 })
  let off = from
  // The next fetch goes out before this batch is applied: the broker
  // reads while the store writes.
  let pending = off < end ? fetchFrom(off) : undefined
  const snapshotMeta = store.meta()
  const replay = store.beginReplay()
  let lastMeta: StoreMeta | undefined
  let stalls = 0
  while (pending) {
    const r = await pending
    const next = r.nextOffset
    // A fetch that brings nothing below the end is asked again a few times
    // (a leader moving, say); the check after the loop decides.
    if (next <= off && ++stalls < REPLAY_MAX_STALLS) {
      pending = fetchFrom(off)
      continue
    }
    stalls = 0
    pending = next > off && next < end ? fetchFrom(next) : undefined
    // Within a batch only the newest record of a key matters (log order is seq order).
    const latest = new Map<string, WindowAgg | null>()
    let meta: StoreMeta | undefined
    for (const rec of r.records) {
      if (rec.offset >= end) break
      const key = rec.key?.toString() ?? ''
      records++
      bytes += (rec.key?.length ?? 0) + (rec.value?.length ?? 0)
      if (key === META_KEY) {
        if (rec.value) meta = newStoreMeta(decodeMeta(rec.value), rec.offset)
        continue
      }
      latest.set(key, rec.value ? decodeWindowValue(rec.value) : null)
    }
    // In log order the metadata's seq only grows: the newest record wins,
    // unless the snapshot already holds a newer one.
    if (meta && (snapshotMeta === undefined || meta.seq > snapshotMeta.seq)) lastMeta = meta
    await replay.apply(latest)
    if (next <= off) break
    off = next
    if (nowMs() - lastLog > 1000) {
      lastLog = nowMs()
      log.info({ offset: off, end, records }, 'replaying changelog')
    }
  }
  await pending
  if (off < end) {
    await replay.finish(undefined).catch(() => undefined) // the store is dropped: recovery starts again from a snapshot
    throw new ChangelogReplayIncompleteError(changelog.topic, changelog.partition, off, end)
  }
  await replay.finish(lastMeta)
  return { records, bytes }
}
