#!/usr/bin/env node
/**
 * The operator's figures, on a real API server and a real broker:
 *
 *   npm run bench:operator [-- --trials 20 --shards 3,30 --passes 5]
 *
 * 1. Pod deletion (grace period 0, as a Chaos Mesh pod-kill) to the
 *    replacement pod created, over `trials` kills of one OpB shard, with the
 *    operator running as its own process. Measured by polling the API server
 *    every 5 ms.
 * 2. Reconcile duration for one resource at each shard count: the first pass
 *    (creates every claim, pod, service and the StatefulSet) and a settled
 *    pass (nothing to change), run in this process against the same server.
 *
 * Every sample goes to bench/results/<id>-operator.json, which the benchmark
 * report renders.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import type { V1Pod } from '@kubernetes/client-node'
import { createMetrics, objectPath, Reconciler } from '@ridepulse/operator'
import { applyYaml, currentCommit, describeHost, ensureNamespace, installCrd, markPodReady, repoRoot, resourcePath, restFor, saveResultsFile, startOperator, waitFor, type OperatorRun } from '@ridepulse/testkit'

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '20' },
    shards: { type: 'string', default: '3,30' },
    passes: { type: 'string', default: '5' },
  },
})
const out = (s: string) => process.stdout.write(`${s}\n`)
const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? 0
}
const fmt = (xs: number[]) => `p50 ${pct(xs, 0.5).toFixed(0)} ms, p95 ${pct(xs, 0.95).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms (n=${xs.length})`

const kube = join(repoRoot, 'scripts', 'kube', 'control-plane.sh')
const kafka = join(repoRoot, 'scripts', 'kafka', 'kafka.sh')
const kubeDir = mkdtempSync(join(tmpdir(), 'ridepulse-bench-kube-'))
const kafkaDir = mkdtempSync(join(tmpdir(), 'ridepulse-bench-kafka-'))
const kubeArgs = ['--port', '18443', '--dir', kubeDir]
const kafkaArgs = ['--port', '29392', '--data', kafkaDir]
const kubeconfig = execFileSync('bash', [kube, 'start', ...kubeArgs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!
const brokers = execFileSync('bash', [kafka, 'start', ...kafkaArgs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!
const rest = restFor(kubeconfig)
const startedAt = new Date()
const run: OperatorRun = { id: startedAt.toISOString().replace(/[:.]/g, '-'), kind: 'operator', startedAt: startedAt.toISOString(), commit: currentCommit(repoRoot), host: describeHost(), recreateMs: [], reconcile: [] }
const operator = startOperator({ KUBECONFIG: kubeconfig, WATCH_NAMESPACES: 'bench', LEADER_ELECTION: 'false', HTTP_PORT: '0', LOG_LEVEL: 'warn' })

try {
  await installCrd(rest)
  await ensureNamespace(rest, 'bench')
  const resource = (name: string, ns: string, shards: number) => ({
    apiVersion: 'ridepulse.io/v1alpha1',
    kind: 'StatefulOperator',
    metadata: { name, namespace: ns },
    spec: { kafka: { bootstrapServers: [brokers] }, opb: { shards }, topics: { orders: `${name}.orders`, enriched: `${name}.enriched`, output: `${name}.output`, late: `${name}.late`, changelog: `${name}.changelog`, snapshots: `${name}.snapshots` } },
  })

  // 1. Pod deletion → replacement created.
  await applyYaml(rest, JSON.stringify(resource('rides', 'bench', 3)), 'bench')
  await waitFor('3 shards', async () => ((await rest.get<{ status?: { shards?: { podUid?: string }[] } }>(resourcePath('bench', 'rides'))).status?.shards ?? []).filter((s) => s.podUid).length === 3, 30_000)
  for (const i of [0, 1, 2]) await markPodReady(rest, 'bench', `rides-opb-${i}`)
  const podPath = objectPath('v1', 'pods', 'bench', 'rides-opb-1')
  const recreate = run.recreateMs
  for (let t = 0; t < Number(args.trials); t++) {
    await waitFor('the pipeline running', async () => (await rest.get<{ status?: { phase?: string } }>(resourcePath('bench', 'rides'))).status?.phase !== 'Recovering', 30_000, 20)
    const old = (await rest.get<V1Pod>(podPath)).metadata?.uid
    const t0 = performance.now()
    await rest.delete(podPath, { gracePeriodSeconds: 0 })
    await waitFor('the replacement', async () => {
      const uid = (await rest.get<V1Pod>(podPath).catch(() => undefined))?.metadata?.uid
      return uid !== undefined && uid !== old
    }, 30_000, 5)
    recreate.push(performance.now() - t0)
    await markPodReady(rest, 'bench', 'rides-opb-1')
  }
  out(`pod deleted (grace 0) -> replacement created: ${fmt(recreate)}`)

  // 2. Reconcile duration, in this process, in a namespace the operator does not watch.
  await ensureNamespace(rest, 'bench-reconcile')
  const log = pino({ level: 'error' }) // its background topic checks outlive the broker at the end
  const reconciler = new Reconciler({ rest, log, metrics: createMetrics(), identity: 'bench', requeue: () => undefined })
  for (const shards of args.shards.split(',').map(Number)) {
    const first: number[] = []
    const settled: number[] = []
    for (let p = 0; p < Number(args.passes); p++) {
      const name = `r${shards}x${p}`
      await applyYaml(rest, JSON.stringify(resource(name, 'bench-reconcile', shards)), 'bench-reconcile')
      const key = `bench-reconcile/${name}`
      // Passes until the shards' pods exist: the pass that made them is the
      // creating one (the passes before it add the finalizer, or wait for
      // the topics, which the operator checks on the broker in the background).
      const pods = async () => (await rest.get<{ items: unknown[] }>(objectPath('v1', 'pods', 'bench-reconcile'), { labelSelector: `app.kubernetes.io/instance=${name},app.kubernetes.io/component=opb` })).items.length
      let creating: number | undefined
      for (let pass = 0; creating === undefined; pass++) {
        if (pass === 150) throw new Error(`${key}: no pods after 150 passes (see the resource's status)`)
        if (pass > 0) await new Promise((resolve) => setTimeout(resolve, 200))
        const t0 = performance.now()
        await reconciler.reconcile(key)
        const took = performance.now() - t0
        if ((await pods()) === shards) creating = took
      }
      first.push(creating)
      await reconciler.reconcile(key) // records the new pods' uids
      const t0 = performance.now()
      await reconciler.reconcile(key)
      settled.push(performance.now() - t0)
    }
    out(`reconcile, ${shards} shards: creating pass ${fmt(first)}; settled pass ${fmt(settled)}`)
    run.reconcile.push({ shards, creatingMs: first, settledMs: settled })
  }
  out(`results in ${saveResultsFile(repoRoot, run)}`)
} finally {
  await operator.kill('SIGTERM')
  execFileSync('bash', [kube, 'stop', ...kubeArgs], { stdio: 'inherit' })
  execFileSync('bash', [kafka, 'stop', ...kafkaArgs], { stdio: 'inherit' })
  rmSync(kubeDir, { recursive: true, force: true })
  rmSync(kafkaDir, { recursive: true, force: true })
}
