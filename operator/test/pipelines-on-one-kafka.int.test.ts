import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { V1EnvVar } from '@kubernetes/client-node'
import { describe, expect, inject, it } from 'vitest'
import { eventTimeRule, kafkaIdOf, parseResource, WRITTEN_TOPIC_ROLES } from '@ridepulse/contracts'
import { ensureTopics } from '@ridepulse/kafka'
import { awaitVerdict, LocalPipeline, sleep, startLoad, type WorkerEnv } from '@ridepulse/testkit'
import { buildOpaStatefulSet, buildOpbPod } from '../src/core/builders.js'

const brokers = inject('kafkaBrokers')
const run = Date.now().toString(36)
const input = `shared-orders-${run}`

/** The plain variables of a container's environment (the ones a fieldRef or a Secret fills are the pipeline's own to set). */
const plainEnv = (env: V1EnvVar[] | undefined): WorkerEnv => Object.fromEntries((env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]))

/**
 * Two resources in one namespace and one of the same name in another, all
 * with the written topics on their defaults and one shared input, run as
 * the operator renders their pods: each pipeline's counts must be exact. With
 * global default topics they doubled each other's counts, and with the
 * namespace missing from the transactional ids the two of one name fenced
 * each other for ever.
 */
describe('pipelines that share a Kafka cluster', () => {
  it('two resources in one namespace and one name in two namespaces, on default topics, each count exactly', async () => {
    const resources = [
      { namespace: `a-${run}`, name: 'rides', uid: 'uid-a-rides' },
      { namespace: `a-${run}`, name: 'rides-2', uid: 'uid-a-rides-2' },
      { namespace: `b-${run}`, name: 'rides', uid: 'uid-b-rides' },
    ]
    const spec = {
      kafka: { bootstrapServers: brokers.split(',') },
      topics: { orders: input, ordersPartitions: 2 },
      opb: { shards: 2 },
      windows: { sizeMs: 2000, allowedLatenessMs: 500, outOfOrdernessMs: 500, idleTimeoutMs: 1500 },
      snapshots: { intervalMs: 700, fullEvery: 3 },
    }
    const rendered = resources.map((o) => {
      const parsed = parseResource(o, spec)
      if (!parsed.ok) throw new Error(parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; '))
      const opb = plainEnv(buildOpbPod(o, parsed.spec, 0).spec?.containers[0]?.env)
      const opa = plainEnv(buildOpaStatefulSet(o, parsed.spec).spec?.template.spec?.containers[0]?.env)
      return { o, opa, opb }
    })

    // What the operator renders: OpA and OpB of one resource agree; no two resources share a written topic or an id.
    const topicOf = (env: WorkerEnv, role: (typeof WRITTEN_TOPIC_ROLES)[number]) => env[`TOPIC_${role.toUpperCase()}` as keyof WorkerEnv]
    for (const r of rendered) {
      for (const role of WRITTEN_TOPIC_ROLES) expect(topicOf(r.opa, role)).toBe(topicOf(r.opb, role))
      expect([r.opa.TOPIC_ORDERS, r.opb.TOPIC_ORDERS]).toEqual([input, input])
      expect(r.opa.PIPELINE_NAMESPACE).toBe(r.o.namespace)
    }
    const written = rendered.flatMap((r) => WRITTEN_TOPIC_ROLES.map((role) => topicOf(r.opb, role)))
    expect(new Set(written).size).toBe(written.length)
    const ids = rendered.map((r) => kafkaIdOf({ PIPELINE: r.opb.PIPELINE!, PIPELINE_NAMESPACE: r.opb.PIPELINE_NAMESPACE }))
    expect(new Set(ids).size).toBe(3)

    // Then the three pipelines, run as those pods would run them, on one broker and one input.
    const settings = { brokers: brokers.split(','), clientId: `shared-${run}` }
    await ensureTopics(settings, [{ name: input, partitions: 2 }])
    const dirs = rendered.map(() => mkdtempSync(join(tmpdir(), 'ridepulse-shared-')))
    const pipelines = rendered.map(
      (r, i) =>
        new LocalPipeline({ brokers, pipeline: r.o.name, shards: 2, ordersPartitions: 2, opaInstances: 1, dataDir: dirs[i]!, httpBase: 28_000 + 200 * i, env: { ...r.opb, LOG_LEVEL: 'info' } }),
    )
    let passed = false
    try {
      await Promise.all(pipelines.map((p) => p.startAll()))
      const load = startLoad({ settings, topic: input, partitions: 2, ratePerSec: 300, zones: 12, seed: 17, malformedFraction: 0.02, maxDisorderMs: 300 })
      await sleep(6000)
      const sent = await load.stop()
      for (const [i, p] of pipelines.entries()) {
        const report = await awaitVerdict(settings, p.topics, { orders: 2, shards: 2 }, eventTimeRule(p.opts.env ?? {}), 60_000)
        process.stdout.write(`${ids[i]}: windows ${report.windows}, finals ${report.finals}, lost ${report.lost}, duplicated ${report.duplicated}; ${report.problems.slice(0, 3).join('; ')}\n`)
        expect(report.ok).toBe(true)
        expect(report.windows).toBeGreaterThan(0)
      }
      expect(sent.valid).toBeGreaterThan(0)
      for (const p of pipelines) for (const w of [...p.opa.values(), ...p.opb.values()]) expect(w.child.exitCode).toBeNull()
      passed = true
    } finally {
      await Promise.all(pipelines.map((p) => p.stopAll()))
      if (!passed) {
        for (const p of pipelines) for (const w of [...p.opa.values(), ...p.opb.values()]) process.stdout.write(`--- ${p.topics.TOPIC_ENRICHED} ${w.name}\n${readFileSync(w.logFile, 'utf8').split('\n').slice(-15).join('\n')}\n`)
      }
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    }
  })
})
