import { describe, expect, it } from 'vitest'
import { ensureTopics, PlainProducer } from '@ridepulse/kafka'
import { pipelineTopics } from '../src/topics.js'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ShardLag } from '@ridepulse/contracts'
import { getJson, waitReady } from '@ridepulse/testkit'
import { cleanUpPipelinesAfterEach, FAST_WINDOWS, testPipeline } from '@ridepulse/testkit/vitest'

cleanUpPipelinesAfterEach()

describe('commits larger than one record batch may be', () => {
  it('a backlog in which every event opens a window of its own goes through in bounded transactions, exact', async () => {
    // 12,000 zones with one event each: a commit of 5,000 events changes
    // 5,000 windows, well over the broker's 1 MB limit for one batch.
    const t = testPipeline('large-commit', { shards: 1, ordersPartitions: 1, env: { ...FAST_WINDOWS, COMMIT_MAX_RECORDS: '5000' } })
    const events = 12_000
    const now = Date.now()
    await ensureTopics(t.settings, pipelineTopics({ ...t.p.topics, ORDERS_PARTITIONS: 1, SHARDS: 1 }))
    const producer = new PlainProducer({ ...t.settings, clientId: 'large-commit-backlog' })
    for (let i = 0; i < events; i += 2000) {
      await producer.send(
        Array.from({ length: 2000 }, (_, j) => ({
          topic: t.p.topics.TOPIC_ORDERS,
          partition: 0,
          key: `ride-${i + j}`,
          value: Buffer.from(JSON.stringify({ eventId: `e-${i + j}`, rideId: `ride-${i + j}`, zone: `zone-${i + j}`, type: 'requested', ts: now })),
        })),
      )
    }
    await producer.close()
    // OpA first, through the whole backlog; then OpB, which starts far behind.
    const opa = t.p.startOpa(0)
    await waitReady(opa)
    for (let waited = 0; waited < 60_000; waited += 250) {
      const positions = (await getJson<{ partitions: Record<string, number> }>(opa.port, '/status')).partitions
      if ((positions['0'] ?? 0) >= events) break
      await sleep(250)
    }
    const opb = t.p.startOpb(0)
    let mostBehind: ShardLag | undefined
    for (let waited = 0; waited < 60_000; waited += 50) {
      const s = await getJson<{ inputOffset: number; shardLag?: ShardLag }>(opb.port, '/status').catch(() => undefined)
      if (s?.shardLag && s.shardLag.records > (mostBehind?.records ?? 0)) mostBehind = s.shardLag
      if (s && s.inputOffset >= events) break
      await sleep(50)
    }
    // Its lag, while it caught up: records waiting, and how old the last one read was.
    expect(mostBehind?.records).toBeGreaterThan(0)
    expect(mostBehind?.inputSeconds).toBeGreaterThan(0)
    const st = await getJson<{ inputOffset: number; commits: number; lastError: string | null; shardLag: ShardLag }>(opb.port, '/status')
    // Caught up: nothing waits; the watermark follows the events' time; it has committed.
    expect(st.shardLag).toMatchObject({ records: 0, inputSeconds: 0 })
    expect(st.shardLag.watermarkSeconds).toBeGreaterThanOrEqual(0)
    expect(st.shardLag.sinceCommitSeconds).toBeGreaterThanOrEqual(0)
    const metrics = await (await fetch(`http://127.0.0.1:${opb.port}/metrics`)).text()
    for (const name of ['ridepulse_input_lag_seconds', 'ridepulse_watermark_lag_seconds', 'ridepulse_seconds_since_last_commit', 'ridepulse_input_lag_records']) expect(metrics).toMatch(new RegExp(`^${name}\\{[^}]*shard="0"[^}]*\\} [0-9.e+-]+$`, 'm'))
    // Past every event (the offsets of transaction markers count too).
    expect(st.inputOffset).toBeGreaterThanOrEqual(events)
    // At most COMMIT_MAX_RECORDS (5,000) input records per transaction.
    expect(st.commits).toBeGreaterThanOrEqual(3)
    const report = await t.verifyWhenFinal(60_000)
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
    expect(report.windows).toBe(events)
  })
})
