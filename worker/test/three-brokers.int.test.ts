import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Admin } from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { setTimeout as sleep } from 'node:timers/promises'
import { getJson, type WorkerProcess } from '@ridepulse/testkit'
import { decodeMeta, META_KEY } from '../src/core/records.js'
import { readToEnd } from '@ridepulse/kafka'
import { cleanUpPipelinesAfterEach, FAST_WINDOWS, testPipeline } from '@ridepulse/testkit/vitest'

cleanUpPipelinesAfterEach()

/**
 * A cluster of three KRaft nodes, as users run Kafka: replication factor 3,
 * min.insync.replicas 2, the transaction and offsets logs replicated.
 */
const NODES = 3
let script = ''
let args: string[] = []
let brokers = ''
let data = ''

const kafka = (cmd: string, ...extra: string[]) => execFileSync('bash', [script, cmd, ...args, ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()

async function metadata(topics: string[]) {
  const admin = new Admin({ clientId: 'three-brokers-test', bootstrapBrokers: brokers.split(','), retries: 10, retryDelay: 300 })
  try {
    return await admin.metadata({ topics, forceUpdate: true })
  } finally {
    await admin.close()
  }
}

beforeAll(async () => {
  script = inject('kafkaScript')
  data = mkdtempSync(join(tmpdir(), 'ridepulse-kafka-cluster-'))
  args = ['--nodes', String(NODES), '--port', String(inject('kafkaPort') + 20), '--data', data]
  brokers = kafka('start').split('\n').at(-1)!
  // A port opens before its broker has registered with the controllers.
  for (const deadline = Date.now() + 60_000; ; ) {
    const md = await metadata([]).catch(() => undefined)
    if (md && md.brokers.size === NODES) break
    if (Date.now() > deadline) throw new Error(`the cluster did not list ${NODES} brokers within 60 s`)
    await sleep(500)
  }
})

afterAll(() => {
  if (script) kafka('stop')
  if (data) rmSync(data, { recursive: true, force: true })
})

/** Polls each worker's commit count; the longest time any of them went without a commit is its stall. */
function watchCommits(workers: WorkerProcess[]) {
  const last = new Map<string, { commits: number; at: number }>()
  const longest = new Map<string, number>()
  let running = true
  const loop = (async () => {
    while (running) {
      const now = Date.now()
      await Promise.all(
        workers.map(async (w) => {
          const st = await getJson<{ commits: number }>(w.port, '/status').catch(() => undefined)
          const prev = last.get(w.name)
          if (st && (!prev || st.commits > prev.commits)) {
            if (prev) longest.set(w.name, Math.max(longest.get(w.name) ?? 0, now - prev.at))
            last.set(w.name, { commits: st.commits, at: now })
          }
        }),
      )
      await sleep(50)
    }
  })()
  return {
    async stop(): Promise<Map<string, number>> {
      running = false
      await loop
      const now = Date.now()
      // A worker still waiting for its next commit has stalled at least that long.
      for (const [name, l] of last) longest.set(name, Math.max(longest.get(name) ?? 0, now - l.at))
      return longest
    },
  }
}

describe(`a ${NODES}-broker cluster`, () => {
  it('SIGKILL of the broker leading a shard\'s enriched and changelog partitions under load, then its restart: exact, the stall printed', async () => {
    const t = testPipeline('three-brokers', { brokers, env: { ...FAST_WINDOWS, TOPIC_REPLICATION_FACTOR: '3' } })
    await t.p.startAll()
    const load = t.load()
    await sleep(2500)

    const { TOPIC_ENRICHED: enriched, TOPIC_CHANGELOG: changelog } = t.p.topics
    const md = await metadata([enriched, changelog])
    const leaderOf = (topic: string, p: number) => md.topics.get(topic)!.partitions[p]!.leader
    for (const topic of [enriched, changelog]) expect(md.topics.get(topic)!.partitions.every((p) => p.replicas.length === NODES)).toBe(true)
    // The broker leading shard 0's changelog, and whatever else it leads.
    const victim = leaderOf(changelog, 0)
    const led = [enriched, changelog].flatMap((topic) => md.topics.get(topic)!.partitions.flatMap((p, i) => (p.leader === victim ? [`${topic}[${i}]`] : [])))

    const workers = [...t.p.opa.values(), ...t.p.opb.values()]
    const watch = watchCommits(workers)
    await sleep(1000)
    const killedAt = Date.now()
    kafka('kill', '--node', String(victim))
    await sleep(8000)
    const restartAt = Date.now()
    kafka('start', '--node', String(victim))
    const servingAt = Date.now()
    await sleep(4000)
    const stalls = await watch.stop()
    const sent = await load.stop()
    process.stdout.write(
      `broker ${victim} (leader of ${led.join(', ')}) killed with SIGKILL, restarted ${restartAt - killedAt} ms later (serving after ${servingAt - restartAt} ms); ` +
        `longest time without a commit: ${workers.map((w) => `${w.name} ${stalls.get(w.name) ?? 'none'} ms`).join(', ')}\n`,
    )

    const report = await t.verifyWhenFinal(60_000)
    if (!report.ok) await explainInputOrder(t.settings, { enriched: t.p.topics.TOPIC_ENRICHED, changelog: t.p.topics.TOPIC_CHANGELOG }, report.problems)
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0, missedLate: 0, unjustifiedLate: 0, inputMismatch: 0 })
    expect(report.validEvents).toBeGreaterThan(sent.valid * 0.99)
    // Every worker committed again after the kill: none stopped for good, none was restarted.
    for (const w of workers) {
      expect(w.child.exitCode, `${w.name} exited`).toBeNull()
      expect(stalls.has(w.name)).toBe(true)
    }
  })
})

/**
 * For the next failure's diagnosis: the shard's input around the first
 * event the verifier names (offset, event, event time, ingest time), and
 * where the shard stood after each commit there (its changelog's metadata
 * records: input offset and watermark), all as read read_committed.
 */
async function explainInputOrder(settings: { brokers: string[]; clientId: string }, topics: { enriched: string; changelog: string }, problems: string[]): Promise<void> {
  try {
    const m = problems.map((p) => /^shard (\d+): event (\S+) /.exec(p)).find((x) => x)
    if (!m) return
    const shard = Number(m[1])
    const records = await readToEnd(settings, topics.enriched, shard)
    const at = records.findIndex((r) => r.value?.toString().includes(`"eventId":"${m[2]}"`))
    const shown = records.slice(Math.max(0, at - 60), at + 10)
    const lines = shown.map((r) => {
      const e = JSON.parse(r.value!.toString()) as { eventId: string; ts: number; ingestMs: number }
      return `  input ${r.offset} ${e.eventId} ts ${new Date(e.ts).toISOString()} ingest ${new Date(e.ingestMs).toISOString()}`
    })
    const from = shown[0]?.offset ?? 0
    const to = shown.at(-1)?.offset ?? 0
    for (const r of await readToEnd(settings, topics.changelog, shard)) {
      if (r.key?.toString() !== META_KEY || !r.value) continue
      const meta = decodeMeta(r.value)
      if (meta.inputOffset >= from && meta.inputOffset <= to + 1) lines.push(`  commit at changelog ${r.offset}: input offset ${meta.inputOffset}, watermark ${new Date(meta.watermark).toISOString()}, max event ${new Date(meta.maxEventTs).toISOString()}`)
    }
    process.stderr.write(`shard ${shard} around ${m[2]}:\n${lines.join('\n')}\n`)
  } catch (err) {
    process.stderr.write(`could not explain the input order: ${String(err)}\n`)
  }
}
