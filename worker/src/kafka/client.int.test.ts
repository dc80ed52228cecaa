import { Consumer, Producer } from '@platformatic/kafka'
import { beforeAll, describe, expect, inject, it } from 'vitest'
import { ensureTopics, PartitionReader, TxnProducer, type ConsumedRecord } from './client.js'
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
      const part = res.responses[0]!.partitions[0]!
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
