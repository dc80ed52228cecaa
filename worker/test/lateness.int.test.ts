import { describe, expect, it } from 'vitest'
import { createRng, readWholeTopic, waitReady } from '@ridepulse/testkit'
import { decodeOutput } from '@ridepulse/contracts'
import { setTimeout as sleep } from 'node:timers/promises'
import { PlainProducer, type OutgoingRecord } from '@ridepulse/kafka'
import { cleanUpPipelinesAfterEach, FAST_WINDOWS, testPipeline } from '@ridepulse/testkit/vitest'

cleanUpPipelinesAfterEach()

/**
 * One input, ten minutes of event time ending five minutes ago, with a few
 * stragglers far behind: written as a backlog, so no shard is ever idle
 * before its end and only the event-time rule decides what is late.
 */
const START = Date.now() - 15 * 60_000

function input(topic: string): OutgoingRecord[] {
  const rng = createRng(21)
  const start = START
  return Array.from({ length: 3000 }, (_, i) => {
    const at = start + i * 200
    const ts = at - rng.int(400) - (rng.int(40) === 0 ? 5_000 : 0)
    const event = { eventId: `e${i}`, rideId: `r${i}`, zone: `zone-${rng.int(9)}`, type: ['requested', 'matched', 'completed', 'cancelled'][rng.int(4)], ts }
    return { topic, partition: 0, key: event.rideId, value: Buffer.from(JSON.stringify(event)), timestamp: at }
  })
}

/** Runs the input through a pipeline of its own; returns its finals (counts by zone and window) and the ids it declared late. */
async function runPipeline(name: string, env: Record<string, string>, crash: boolean) {
  const t = testPipeline(name, { ordersPartitions: 1, env: { ...FAST_WINDOWS, ...env } })
  const upstream = new PlainProducer({ ...t.settings, clientId: `${name}-upstream` })
  const records = input(t.p.topics.TOPIC_ORDERS)
  t.p.startOpa(0)
  const faulty = t.p.startOpb(0, crash ? { FAULT: 'after-commit:4' } : {})
  t.p.startOpb(1)
  await Promise.all([...t.p.opa.values(), ...t.p.opb.values()].map((w) => waitReady(w)))
  for (let i = 0; i < records.length; i += 500) await upstream.send(records.slice(i, i + 500))
  await upstream.close()
  if (crash) {
    expect(await Promise.race([faulty.exited, sleep(30_000).then(() => 'alive')])).toBeNull()
    await waitReady(t.p.startOpb(0))
  }
  const report = await t.verifyWhenFinal(60_000)
  expect(report.problems).toEqual([])
  expect(report).toMatchObject({ ok: true, lateByIdle: 0 })
  const finals = new Map<string, number[]>()
  for (const r of await readWholeTopic(t.settings, t.p.topics.TOPIC_OUTPUT, 2)) {
    const o = decodeOutput(r.value!)
    if (o.final) finals.set(`${o.zone}|${o.windowStart}`, [o.requested, o.matched, o.completed, o.cancelled])
  }
  const late = (await readWholeTopic(t.settings, t.p.topics.TOPIC_LATE, 2)).map((r) => (JSON.parse(r.value!.toString()) as { eventId: string }).eventId).sort()
  return { finals, late }
}

describe('lateness on a real broker', () => {
  it('the same input gives the same finals and late events whatever the commit interval, with or without a crash in between', async () => {
    const small = await runPipeline('late-small', { COMMIT_INTERVAL_MS: '20', COMMIT_MAX_RECORDS: '37' }, false)
    expect(small.late.length).toBeGreaterThan(10)
    expect(small.finals.size).toBeGreaterThan(100)
    const large = await runPipeline('late-large-crash', { COMMIT_INTERVAL_MS: '400' }, true)
    expect(large.late).toEqual(small.late)
    expect(large.finals).toEqual(small.finals)
  })
})
