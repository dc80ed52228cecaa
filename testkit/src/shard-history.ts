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
  /** Offset of the history's last record (its meta) on changelog partition 0. */
  lastOffset: number
}

/** Key i of a history starting at `base`. */
export const historyKey = (i: number, base: number): string => windowKey(`zone-${i % ZONES}`, base + Math.floor(i / ZONES) * WINDOW)

/** The window of key i; `final` windows are never emitted by a pipeline that later runs on live traffic. */
export const historyAgg = (i: number, final: boolean): WindowAgg => ({ ...emptyAgg(), requested: 1 + (i % 7), matched: i % 5, seq: 1, rev: 1, final })

/** How long a pipeline must keep windows for a history of `keys` keys to stay live (its oldest minute, and an hour to spare). */
export const historyRetentionMs = (keys: number): number => (Math.ceil(keys / ZONES) + 60) * WINDOW

/** Writes `records` in transactions of 5,000 with transactional id `txId`; the offset of the last one. */
export async function writeTransactionally(settings: KafkaSettings, topic: string, txId: string, records: OutgoingRecord[]): Promise<number> {
  const p = new TxnProducer(settings, txId)
  await p.fence()
  let last = -1
  try {
    for (let i = 0; i < records.length; i += 5000) {
      const chunk = records.slice(i, i + 5000)
      await p.begin()
      const r = await p.send(chunk)
      await p.commit()
      last = (r.baseOffsets.get(`${topic}:0`) ?? 0) + chunk.length - 1
    }
  } finally {
    await p.close()
  }
  return last
}

/**
 * Creates the topics of a one-shard pipeline (as its workers would) and
 * writes a history of `keys` windows to its changelog with transactional id
 * `txId`.
 */
export async function writeShardHistory(settings: KafkaSettings, topics: ReturnType<typeof topicsFor>, keys: number, o: { txId: string; final: boolean }): Promise<History> {
  await ensureTopics(settings, pipelineTopics({ ...topics, ORDERS_PARTITIONS: 1, SHARDS: 1 }))
  const base = Math.floor(Date.now() / WINDOW) * WINDOW - Math.ceil(keys / ZONES) * WINDOW
  const meta: ShardMeta = { ...initialMeta(), seq: 1 }
  const records: OutgoingRecord[] = []
  for (let i = 0; i < keys; i++) records.push({ topic: topics.TOPIC_CHANGELOG, partition: 0, key: historyKey(i, base), value: encodeWindowValue(historyAgg(i, o.final)) })
  records.push({ topic: topics.TOPIC_CHANGELOG, partition: 0, key: META_KEY, value: encodeMeta(meta) })
  return { keys, base, meta, lastOffset: await writeTransactionally(settings, topics.TOPIC_CHANGELOG, o.txId, records) }
}
