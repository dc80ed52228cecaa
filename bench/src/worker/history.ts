/**
 * A shard's history built directly, for the benchmarks that need a state of
 * a given size: a changelog of `keys` window records written transactionally
 * with the shard's transactional id, a store holding them, a full snapshot of
 * that store on the shard's volume, then a tail of `tail` more changelog
 * records past the snapshot.
 */
import { join } from 'node:path'
import { encodeMeta, encodeWindowValue, META_KEY, newStoreMeta, SnapshotStore, StateStore, type WindowAgg } from '@ridepulse/worker'
import type { KafkaSettings, OutgoingRecord } from '@ridepulse/kafka'
import { historyAgg, historyKey, topicsFor, writeShardHistory, writeTransactionally } from '@ridepulse/testkit'

export interface ShardHistory {
  topics: ReturnType<typeof topicsFor>
  snapshot: Awaited<ReturnType<SnapshotStore['takeFull']>>
}

/**
 * Builds the history of `n` keys of `shard` (0 unless told) of `pipeline`
 * (of `shards` shards, one unless told), its snapshot in `shardDir`.
 * `final`: the windows are final (so a pipeline that then runs on live
 * traffic never emits them).
 */
export async function buildShardHistory(settings: KafkaSettings, pipeline: string, shardDir: string, n: number, tail: number, final = false, where: { shard: number; shards: number } = { shard: 0, shards: 1 }): Promise<ShardHistory> {
  const topics = topicsFor(pipeline)
  const txId = `${pipeline}-opb-${where.shard}`
  const { base, meta, lastOffset } = await writeShardHistory(settings, topics, n, { txId, final, ...where })
  const store = StateStore.open(join(shardDir, 'live'))
  for (let i = 0; i < n; i += 50_000) {
    const m = new Map<string, WindowAgg>()
    for (let j = i; j < Math.min(n, i + 50_000); j++) m.set(historyKey(j, base), historyAgg(j, final))
    store.apply(m, newStoreMeta(meta, lastOffset))
  }
  const snapshot = await new SnapshotStore(shardDir, where.shard).takeFull(store, topics.TOPIC_ENRICHED, Date.now())
  await store.close()
  const tailAt = (i: number): OutgoingRecord =>
    i < tail
      ? { topic: topics.TOPIC_CHANGELOG, partition: where.shard, key: historyKey(i % n, base), value: encodeWindowValue({ ...historyAgg(i % n, final), requested: 100 + i, seq: 2 + Math.floor(i / n) }) }
      : { topic: topics.TOPIC_CHANGELOG, partition: where.shard, key: META_KEY, value: encodeMeta({ ...meta, seq: 2 }) }
  await writeTransactionally(settings, topics.TOPIC_CHANGELOG, txId, tail + 1, tailAt, where.shard)
  return { topics, snapshot }
}
