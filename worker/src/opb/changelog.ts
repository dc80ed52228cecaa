import type { Logger } from 'pino'
import type { WindowAgg } from '../core/aggregate.js'
import { decodeMeta, decodeWindowValue, META_KEY } from '../core/records.js'
import { PartitionReader, PartitionReadStalledError, readRange, type KafkaSettings } from '@ridepulse/kafka'
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
    let latest: SnapshotManifest | undefined
    for await (const batch of readRange(reader, 0, await reader.endOffset(), { maxWaitMs: 50, maxBytes: 1 << 20, maxStalls: REPLAY_MAX_STALLS })) {
      for (const rec of batch) {
        if (rec.key?.toString() !== key || !rec.value) continue
        const parsed = manifestSchema.safeParse(JSON.parse(rec.value.toString()))
        if (parsed.success) latest = parsed.data
      }
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
  const snapshotMeta = store.meta()
  const replay = store.beginReplay()
  let lastMeta: StoreMeta | undefined
  try {
    for await (const batch of readRange(changelog, from, end, { maxWaitMs: 50, maxBytes: 8 << 20, maxStalls: REPLAY_MAX_STALLS })) {
      // Within a batch only the newest record of a key matters (log order is seq order).
      const latest = new Map<string, WindowAgg | null>()
      let meta: StoreMeta | undefined
      for (const rec of batch) {
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
      if (nowMs() - lastLog > 1000) {
        lastLog = nowMs()
        log.info({ offset: batch.at(-1)?.offset, end, records }, 'replaying changelog')
      }
    }
  } catch (err) {
    if (!(err instanceof PartitionReadStalledError)) throw err
    await replay.finish(undefined).catch(() => undefined) // the store is dropped: recovery starts again from a snapshot
    throw new ChangelogReplayIncompleteError(changelog.topic, changelog.partition, err.offset, end)
  }
  await replay.finish(lastMeta)
  return { records, bytes }
}
