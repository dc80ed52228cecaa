/**
 * A shard's changelog written directly, for the benchmarks that need a state
 * of a given size before any traffic: `keys` window records and the shard's
 * meta, committed in transactions, on the changelog of a pipeline of one
 * shard. A shard started on it (or a standby following it) holds `keys` live
 * windows once it has read them.
 */
import { ensureTopics, TxnProducer, type KafkaSettings, type OutgoingRecord } from '@ridepulse/kafka'
import { emptyAgg, encodeMeta, encodeWindowValue, initialMeta, META_KEY, pipelineTopics, windowKey, type ShardMeta, type WindowAgg } from '@ridepulse/worker'
import type { topicsFor } from './pipeline.js'

const WINDOW = 60_000
const ZONES = 500

/** The keys of a history: ZONES zones times as many past minutes as needed, from `base`. */
export interface History {
  keys: number
  /** Start of the oldest minute. */
  base: number
  meta: ShardMeta
  /** Offset of the history's last record (its meta) on its changelog partition. */
  lastOffset: number
}

/** Key i of a history starting at `base`. */
export const historyKey = (i: number, base: number): string => windowKey(`zone-${i % ZONES}`, base + Math.floor(i / ZONES) * WINDOW)

/** The window of key i; `final` windows are never emitted by a pipeline that later runs on live traffic. */
export const historyAgg = (i: number, final: boolean): WindowAgg => ({ ...emptyAgg(), requested: 1 + (i % 7), matched: i % 5, seq: 1, rev: 1, final })

/** How long a pipeline must keep windows for a history of `keys` keys to stay live (its oldest minute, and an hour to spare). */
export const historyRetentionMs = (keys: number): number => (Math.ceil(keys / ZONES) + 60) * WINDOW

/**
 * Writes `count` records, record i from `recordAt(i)`, to `partition` of
 * `topic` in transactions of 5,000 with transactional id `txId` (made as
 * they go, so a history of millions never sits in memory whole); the offset
 * of the last one.
 */
export async function writeTransactionally(settings: KafkaSettings, topic: string, txId: string, count: number, recordAt: (i: number) => OutgoingRecord, partition = 0): Promise<number> {
  const p = new TxnProducer(settings, txId)
  await p.fence()
  let last = -1
  try {
    for (let i = 0; i < count; i += 5000) {
      const chunk: OutgoingRecord[] = []
      for (let j = i; j < Math.min(count, i + 5000); j++) chunk.push(recordAt(j))
      await p.begin()
      const r = await p.send(chunk)
      await p.commit()
      last = (r.baseOffsets.get(`${topic}:${partition}`) ?? 0) + chunk.length - 1
    }
  } finally {
    await p.close()
  }
  return last
}

/**
 * Creates the topics of a pipeline of `shards` shards (one, unless told;
 * as its workers would) and writes a history of `keys` windows to changelog
 * partition `shard` with transactional id `txId`.
 */
export async function writeShardHistory(settings: KafkaSettings, topics: ReturnType<typeof topicsFor>, keys: number, o: { txId: string; final: boolean; shard?: number; shards?: number }): Promise<History> {
  const shard = o.shard ?? 0
  const shards = o.shards ?? 1
  await ensureTopics(settings, pipelineTopics({ ...topics, ORDERS_PARTITIONS: shards, SHARDS: shards }))
  const base = Math.floor(Date.now() / WINDOW) * WINDOW - Math.ceil(keys / ZONES) * WINDOW
  const meta: ShardMeta = { ...initialMeta(), seq: 1 }
  const recordAt = (i: number): OutgoingRecord =>
    i < keys
      ? { topic: topics.TOPIC_CHANGELOG, partition: shard, key: historyKey(i, base), value: encodeWindowValue(historyAgg(i, o.final)) }
      : { topic: topics.TOPIC_CHANGELOG, partition: shard, key: META_KEY, value: encodeMeta(meta) }
  return { keys, base, meta, lastOffset: await writeTransactionally(settings, topics.TOPIC_CHANGELOG, o.txId, keys + 1, recordAt, shard) }
}
