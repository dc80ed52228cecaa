import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { setTimeout as sleep } from 'node:timers/promises'
import { getJson } from '@ridepulse/testkit'
import { ensureTopics, PartitionReader, PlainProducer } from '@ridepulse/kafka'
import { cleanUpPipelinesAfterEach, testPipeline } from '@ridepulse/testkit/vitest'

cleanUpPipelinesAfterEach()

const controlBytes = (n: number) => {
  const b = randomBytes(n)
  for (let i = 0; i < n; i++) b[i] = b[i]! % 0x20
  return b
}

async function metricsOf(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  return res.text()
}

describe('hostile input on a real broker', () => {
  it('a 900 KB record of control bytes and an event stamped 2099 become dead letters; the rest of the input stays exact', async () => {
    const t = testPipeline('hostile')
    await t.p.startAll()
    const load = t.load()
    await sleep(1500)
    const big = controlBytes(900_000)
    const future = { eventId: 'from-2099', rideId: 'r-2099', zone: 'harbor', type: 'requested', ts: '2099-01-01T00:00:00Z' }
    const upstream = new PlainProducer({ ...t.settings, clientId: 'hostile-upstream' })
    await upstream.send([{ topic: t.p.topics.TOPIC_ORDERS, partition: 0, key: 'huge', value: big }])
    await upstream.send([{ topic: t.p.topics.TOPIC_ORDERS, partition: 1, key: 'r-2099', value: Buffer.from(JSON.stringify(future)) }])
    await upstream.close()
    await sleep(3000)
    const sent = await load.stop()

    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    // Lateness as the verifier decides it from the input: the 2099 event moved no watermark.
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0, lateEvents: 0, missedLate: 0, unjustifiedLate: 0, inputMismatch: 0 })
    expect(report.windows).toBeGreaterThan(4)

    const dead = await t.deadLetters()
    expect(dead).toHaveLength(sent.malformed + 2)
    const huge = dead.find((d) => d.originalBytes === big.length)!
    expect(huge).toMatchObject({ code: 'malformed', sourceTopic: t.p.topics.TOPIC_ORDERS, sourcePartition: 0, truncated: true, originalSha256: createHash('sha256').update(big).digest('hex') })
    expect(huge.value!.equals(big.subarray(0, 256 * 1024))).toBe(true)
    const ahead = dead.filter((d) => d.code === 'future-event-time')
    expect(ahead).toHaveLength(1)
    expect(ahead[0]!.reason).toMatch(/2099-01-01T00:00:00.000Z is \d+ ms after the record's ingest time .*MAX_FUTURE_SKEW_MS/)
    expect(JSON.parse(ahead[0]!.value!.toString())).toEqual(future)
    expect(await metricsOf(t.p.opa.get(0)!.port)).toMatch(/ridepulse_dead_letters_total\{code="future-event-time"[^}]*\} 1\b/)

    // A record larger than a fetch's byte limit still comes back whole.
    const reader = new PartitionReader(t.settings, t.p.topics.TOPIC_ORDERS, 0)
    try {
      const r = await reader.fetch(huge.sourceOffset, { maxWaitMs: 0, maxBytes: 1024 })
      expect(r.records[0]?.value?.length).toBe(big.length)
      expect(r.nextOffset).toBeGreaterThan(huge.sourceOffset)
    } finally {
      await reader.close()
    }
  })

  it('a dead-letter topic that refuses a dead letter as too large does not stall OpA: dead letters keep their headers', async () => {
    const t = testPipeline('refused')
    // The dead-letter topic exists already, with a limit below what a dead letter may carry.
    await ensureTopics(t.settings, [{ name: t.p.topics.TOPIC_DLQ, partitions: 1, config: { 'max.message.bytes': '20000' } }])
    await t.p.startAll()
    const load = t.load({ malformedFraction: 0 })
    await sleep(1000)
    const bad = controlBytes(100_000)
    const upstream = new PlainProducer({ ...t.settings, clientId: 'refused-upstream' })
    await upstream.send([{ topic: t.p.topics.TOPIC_ORDERS, partition: 0, key: 'big', value: bad }])
    await upstream.close()
    await sleep(3000)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
    const dead = await t.deadLetters()
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ originalBytes: bad.length, truncated: true, originalSha256: createHash('sha256').update(bad).digest('hex') })
    expect(dead[0]!.value?.length ?? 0).toBe(0)
    // The same OpA process all along, and it says why.
    expect(t.p.opa.get(0)!.child.exitCode).toBeNull()
    const st = await getJson<{ lastError: string | null }>(t.p.opa.get(0)!.port, '/status')
    expect(st.lastError).toMatch(/too large|MESSAGE_TOO_LARGE/i)
  })
})
