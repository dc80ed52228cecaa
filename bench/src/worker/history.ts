/**
 * A shard's history built directly, for the benchmarks that need a state of
 * a given size: a changelog of `keys` window records written transactionally
 * with the shard's transactional id, a store holding them, a full snapshot of
 * that store on the shard's volume, then a tail of `tail` more changelog
 * records past the snapshot.
 */
import { join } from 'node:path'
import { emptyAgg, encodeMeta, encodeWindowValue, initialMeta, META_KEY, newStoreMeta, pipelineTopics, SnapshotStore, StateStore, windowKey, type ShardMeta, type WindowAgg } from '@ridepulse/worker'
import { ensureTopics, TxnProducer, type KafkaSettings, type OutgoingRecord } from '@ridepulse/kafka'
import { topicsFor } from '@ridepulse/testkit'

const WINDOW = 60_000
const ZONES = 500

/** Key i of a state of n keys: ZONES zones times as many past minutes as needed. */
const keyOf = (i: number, base: number) => windowKey(`zone-${i % ZONES}`, base + Math.floor(i / ZONES) * WINDOW)

async function writeChangelog(settings: KafkaSettings, topic: string, txId: string, records: OutgoingRecord[]): Promise<number> {
  const p = new TxnProducer(settings, txId)
  await p.fence()
  let last = -1
  for (let i = 0; i < records.length; i += 5000) {
    const chunk = records.slice(i, i + 5000)
    await p.begin()
    const r = await p.send(chunk)
    await p.commit()
    last = (r.baseOffsets.get(`${topic}:0`) ?? 0) + chunk.length - 1
  }
  await p.close()
  return last
}

export interface ShardHistory {
  topics: ReturnType<typeof topicsFor>
  snapshot: Awaited<ReturnType<SnapshotStore['takeFull']>>
}

/**
 * Builds shard 0's history of `n` keys for `pipeline` (one orders partition,
 * one shard), its snapshot in `shardDir`. `final`: the windows are final
 * (so a pipeline that then runs on live traffic never emits them).
 */
export async function buildShardHistory(settings: KafkaSettings, pipeline: string, shardDir: string, n: number, tail: number, final = false): Promise<ShardHistory> {
  const topics = topicsFor(pipeline)
  await ensureTopics(settings, pipelineTopics({ ...topics, ORDERS_PARTITIONS: 1, SHARDS: 1 }))
  const base = Math.floor(Date.now() / WINDOW) * WINDOW - Math.ceil(n / ZONES) * WINDOW
  const agg = (i: number): WindowAgg => ({ ...emptyAgg(), requested: 1 + (i % 7), matched: i % 5, seq: 1, rev: 1, final })
  const meta: ShardMeta = { ...initialMeta(), seq: 1 }
  const history: OutgoingRecord[] = []
  for (let i = 0; i < n; i++) history.push({ topic: topics.TOPIC_CHANGELOG, partition: 0, key: keyOf(i, base), value: encodeWindowValue(agg(i)) })
  history.push({ topic: topics.TOPIC_CHANGELOG, partition: 0, key: META_KEY, value: encodeMeta(meta) })
  const txId = `${pipeline}-opb-0`
  const snapOffset = await writeChangelog(settings, topics.TOPIC_CHANGELOG, txId, history)

  const store = StateStore.open(join(shardDir, 'live'))
  for (let i = 0; i < n; i += 50_000) {
    const m = new Map<string, WindowAgg>()
    for (let j = i; j < Math.min(n, i + 50_000); j++) m.set(keyOf(j, base), agg(j))
    store.apply(m, newStoreMeta(meta, snapOffset))
  }
  const snapshot = await new SnapshotStore(shardDir, 0).takeFull(store, topics.TOPIC_ENRICHED, Date.now())
  await store.close()
  const tailRecords: OutgoingRecord[] = []
  for (let i = 0; i < tail; i++) tailRecords.push({ topic: topics.TOPIC_CHANGELOG, partition: 0, key: keyOf(i % n, base), value: encodeWindowValue({ ...agg(i % n), requested: 100 + i, seq: 2 + Math.floor(i / n) }) })
  tailRecords.push({ topic: topics.TOPIC_CHANGELOG, partition: 0, key: META_KEY, value: encodeMeta({ ...meta, seq: 2 }) })
  await writeChangelog(settings, topics.TOPIC_CHANGELOG, txId, tailRecords)
  return { topics, snapshot }
}
