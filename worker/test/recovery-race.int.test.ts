import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { opbSchema } from '@ridepulse/contracts'
import { encodeMeta, encodeWindowValue, META_KEY } from '../src/core/records.js'
import { topicsFor } from '@ridepulse/testkit'
import { ensureTopics, TxnProducer } from '@ridepulse/kafka'
import { createMetrics } from '../src/metrics.js'
import { OpbShard } from '../src/opb/opb.js'
import { pipelineTopics } from '../src/topics.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe('OpB recovery against a transaction committing during the fence', () => {
  it('reads the changelog end after the fence, so a transaction committed meanwhile is in the restored state', async () => {
    const pipeline = `race-${Date.now().toString(36)}`
    const dataDir = mkdtempSync(join(tmpdir(), 'ridepulse-race-'))
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }))
    const brokers = inject('kafkaBrokers')
    const cfg = opbSchema.parse({ ROLE: 'opb', SHARD: '0', SHARDS: '1', ORDERS_PARTITIONS: '1', DATA_DIR: dataDir, KAFKA_BROKERS: brokers, PIPELINE: pipeline, ...topicsFor(pipeline) })
    const settings = { brokers: [brokers], clientId: `${pipeline}-test` }
    await ensureTopics(settings, pipelineTopics(cfg))

    // Another transactional writer of the shard's changelog partition, its
    // transaction open: it stands for the zombie whose commit, or the shard's
    // own last commit whose markers, complete while the replacement fences.
    const writer = new TxnProducer(settings, `${pipeline}-other-writer`)
    cleanups.push(() => writer.close())
    await writer.fence()
    await writer.begin()
    await writer.send([
      { topic: cfg.TOPIC_CHANGELOG, partition: 0, key: 'harbor|60000', value: encodeWindowValue({ requested: 3, matched: 2, completed: 1, cancelled: 0, seq: 6, rev: 2, final: false }) },
      { topic: cfg.TOPIC_CHANGELOG, partition: 0, key: META_KEY, value: encodeMeta({ inputOffset: 7, watermark: 55_000, maxEventTs: 60_500, late: 0, seq: 2 }) },
    ])

    const shard = new OpbShard(cfg, pino({ level: 'silent' }), createMetrics({ test: pipeline }), Date.now, undefined, {
      afterFence: () => writer.commit(),
    })
    cleanups.push(() => shard.close())
    const report = await shard.recover(Date.now())

    // Two records and the commit marker.
    expect(report.changelogTo).toBe(3)
    expect(report.replayedRecords).toBe(2)
    expect(report.keys).toBe(1)
    expect(report.inputOffset).toBe(7)
    expect(shard.status()).toMatchObject({ phase: 'running', watermark: 55_000, lastChangelogOffset: 2 })
  })
})
