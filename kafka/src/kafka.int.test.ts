import { Consumer, Producer } from '@platformatic/kafka'
import { beforeAll, describe, expect, inject, it } from 'vitest'
import { ensureTopics, PartitionReader, ProducerFencedError, TxnProducer, type ConsumedRecord } from './index.js'
import { committedBatches } from './read-committed.js'

const brokers = [inject('kafkaBrokers')]
const topic = `raw-fetch-${Date.now().toString(36)}`
const settings = { brokers, clientId: 'raw-fetch-test' }

/** The same partition read through the client's own record decoding, filtered the same way. */
let codecsSeen = new Set<number>()
async function readWithClientDecoder(from: number): Promise<ConsumedRecord[]> {
  const consumer = new Consumer({ clientId: 'raw-fetch-reference', bootstrapBrokers: brokers, groupId: 'raw-fetch-reference' })
  try {
    const md = await consumer.metadata({ topics: [topic], forceUpdate: true })
    const t = md.topics.get(topic)!
    const out: ConsumedRecord[] = []
    for (let offset = from; ; ) {
      const res = await consumer.fetch({
        node: t.partitions[0]!.leader,
        isolationLevel: 1,
        maxWaitTime: 10,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [{ topicId: t.id, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: BigInt(offset), lastFetchedEpoch: -1, partitionMaxBytes: 1 << 20 }] }],
      })
      // The client (2.x) fetches in an incremental fetch session: a partition
      // with nothing new is left out of the response altogether.
      const part = res.responses[0]?.partitions[0]
      if (!part) return out
      const batches = part.records ?? []
      for (const b of batches) codecsSeen.add(b.attributes & 0x07)
      for (const b of committedBatches(batches, part.abortedTransactions)) {
        for (const r of b.records) {
          const o = Number(b.firstOffset) + r.offsetDelta
          if (o >= offset) out.push({ offset: o, key: r.key ?? null, value: r.value ?? null, timestamp: Number(b.firstTimestamp + r.timestampDelta) })
        }
      }
      const last = batches.at(-1)
      if (!last) return out
      offset = Number(last.firstOffset) + last.lastOffsetDelta + 1
    }
  } finally {
    await consumer.close(true)
  }
}

async function readWithPartitionReader(from: number, maxBytes: number): Promise<ConsumedRecord[]> {
  const reader = new PartitionReader(settings, topic, 0)
  try {
    const end = await reader.endOffset()
    const out: ConsumedRecord[] = []
    for (let offset = from; offset < end; ) {
      const r = await reader.fetch(offset, { maxWaitMs: 10, maxBytes })
      out.push(...r.records)
      offset = r.nextOffset
    }
    return out
  } finally {
    await reader.close()
  }
}

const plain = (rs: ConsumedRecord[]) => rs.map((r) => ({ offset: r.offset, key: r.key?.toString('hex') ?? null, value: r.value?.toString('hex') ?? null, timestamp: r.timestamp }))

describe('PartitionReader on a real broker', () => {
  beforeAll(async () => {
    await ensureTopics(settings, [{ name: topic, partitions: 1 }])
    const tx = new TxnProducer(settings, `${topic}-tx`)
    await tx.fence()
    const rec = (i: number, value: Buffer | null = Buffer.from(`{"n":${i},"text":"zone ü ${'x'.repeat(i % 50)}"}`)) => ({ topic, partition: 0, key: `zone-${i % 7}|${i * 60_000}`, value })
    await tx.begin()
    await tx.send(Array.from({ length: 300 }, (_, i) => rec(i)))
    await tx.commit()
    await tx.begin()
    await tx.send(Array.from({ length: 50 }, (_, i) => rec(1000 + i)))
    await tx.abort() // never to be read
    await tx.begin()
    await tx.send([rec(2000, null), rec(2001, Buffer.alloc(0)), rec(2002)])
    await tx.commit()
    await tx.close()
    // Compressed batches, with headers and big timestamps deltas, from a plain producer.
    const producer = new Producer({ clientId: 'raw-fetch-gzip', bootstrapBrokers: brokers, compression: 'gzip' })
    await producer.send({
      messages: Array.from({ length: 40 }, (_, i) => ({ topic, partition: 0, key: Buffer.from(`g${i}`), value: Buffer.from('y'.repeat(i * 10)), headers: new Map([[Buffer.from('h'), Buffer.from(String(i))]]), timestamp: BigInt(1_700_000_000_000 + i * 86_400_000) })),
    })
    await producer.close()
  })

  it('reads what the client decoder reads, aborted records left out, whatever the fetch size', async () => {
    codecsSeen = new Set()
    const expected = plain(await readWithClientDecoder(0))
    expect(expected.length).toBe(300 + 3 + 40)
    expect([...codecsSeen].sort()).toEqual([0, 1]) // plain and gzip batches
    expect(plain(await readWithPartitionReader(0, 8 << 20))).toEqual(expected)
    // Small fetches end mid-batch: the cut batch is read again by the next fetch.
    expect(plain(await readWithPartitionReader(0, 2000))).toEqual(expected)
  })

  it('starts at the offset asked for even inside a batch', async () => {
    const expected = plain(await readWithClientDecoder(0)).filter((r) => r.offset >= 123)
    expect(plain(await readWithPartitionReader(123, 1 << 20))).toEqual(expected)
  })
})

/**
 * Kafka's coordinator takes an InitProducerId that carries a stale epoch of
 * the current producer id as a fence while a transaction is open: it aborts
 * the owner's transaction. These tests pin down that a fenced producer never
 * sends one, and that a lone producer resumes after a half-done transaction.
 */
describe('TxnProducer fencing on a real broker', () => {
  const fencingTopic = `${topic}-fencing`
  let n = 0
  const txId = () => `${fencingTopic}-${++n}`
  const rec = (value: string) => ({ topic: fencingTopic, partition: 0, key: value, value: Buffer.from(value) })

  async function committedValues(): Promise<string[]> {
    const reader = new PartitionReader(settings, fencingTopic, 0)
    try {
      const end = await reader.endOffset()
      const out: string[] = []
      for (let offset = 0; offset < end; ) {
        const r = await reader.fetch(offset, { maxWaitMs: 10, maxBytes: 1 << 20 })
        out.push(...r.records.map((x) => x.value!.toString()))
        offset = r.nextOffset
      }
      return out
    } finally {
      await reader.close()
    }
  }

  beforeAll(async () => {
    await ensureTopics(settings, [{ name: fencingTopic, partitions: 1 }])
  })

  it('a lone producer whose transaction was left open resumes with its own id and a newer epoch', async () => {
    const p = new TxnProducer(settings, txId())
    try {
      await p.fence()
      const first = p.epoch!
      await p.begin()
      await p.send([rec('lone-left-open')])
      // As after a failed commit: no abort reached the coordinator.
      await p.fence()
      expect(p.epoch).toBeGreaterThan(first)
      await p.begin()
      await p.send([rec('lone-after')])
      await p.commit()
    } finally {
      await p.close()
    }
    const seen = await committedValues()
    expect(seen).toContain('lone-after')
    expect(seen).not.toContain('lone-left-open')
  })

  /** Two producers of one transactional id; only `kept` may be read in the end. */
  async function olderAndNewer(kept: string, dropped: string, steps: (older: TxnProducer, newer: TxnProducer) => Promise<void>): Promise<void> {
    const id = txId()
    const older = new TxnProducer(settings, id)
    const newer = new TxnProducer(settings, id)
    try {
      await steps(older, newer)
    } finally {
      await Promise.allSettled([older.close(), newer.close()])
    }
    const seen = await committedValues()
    expect(seen).toContain(kept)
    expect(seen).not.toContain(dropped)
  }

  it('a fenced producer never registers again, so the newer one commits', async () => {
    await olderAndNewer('fenced-newer', 'fenced-older', async (older, newer) => {
      await older.fence()
      await newer.fence()
      await newer.begin()
      await newer.send([rec('fenced-newer')])
      await older.begin()
      await expect(older.send([rec('fenced-older')])).rejects.toThrow(ProducerFencedError)
      await expect(older.fence()).rejects.toThrow(ProducerFencedError)
      await newer.commit()
    })
  })

  it('a producer that failed without hearing it was fenced finds out before registering again', async () => {
    await olderAndNewer('unaware-newer', 'unaware-older', async (older, newer) => {
      await older.fence()
      await older.begin()
      await older.send([rec('unaware-older')])
      await newer.fence() // aborts the older's open transaction
      await newer.begin()
      await newer.send([rec('unaware-newer')])
      // The older process's recovery, as after a timeout it could not read as fencing.
      await expect(older.fence()).rejects.toThrow(ProducerFencedError)
      await newer.commit()
    })
  })
})
