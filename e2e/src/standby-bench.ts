#!/usr/bin/env node
/**
 * Standby failover on the cluster as a measurement, against the cluster of
 * $KUBECONFIG prepared as docs/e2e.md says (`e2e/local.sh standby` does it):
 *
 *   node e2e/dist/standby-bench.js [--keys 10000,100000,1000000 --kills 50 --freeze-kills 5 --methods freeze,chaos-mesh,kubectl --rate 1000]
 *
 * For each size: the chart's operator runs a pipeline of one shard with a
 * hot standby (spec.opb.standby) on a changelog that already holds `keys`
 * live windows; under `rate` events/s, the pod owning the shard is killed
 * `freeze-kills` times by SIGSTOP to the pod's processes from the host, as
 * if its node went silent (SIGCONT 3 s after the takeover), then `kills`
 * times by a Chaos Mesh PodChaos pod-kill of that pod and as many by
 * `kubectl delete pod --grace-period=0 --force`, each time once the pair is
 * ready again. The freezes come first: after three owners within five
 * minutes the standby's flapping guard gives a silent owner four leases. The verifier checks the pipeline's output at the end
 * of each size. Writes bench/results/<id>-cluster-standby.json (rendered in
 * docs/benchmarks.md by `npm run bench`) and prints a table. Exits non-zero
 * if any window was lost or duplicated.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { KafkaSettings } from '@ridepulse/kafka'
import {
  awaitVerdict, createRng, currentCommit, describeHost, historyRetentionMs, saveResultsFile, sleep, startLoad, topicsFor, waitFor, writeShardHistory,
  type ClusterKill, type ClusterStandbyRun, type KillMethod,
} from '@ridepulse/testkit'
import { LATENESS_MS, OUT_OF_ORDERNESS_MS, WINDOW_MS, WORKER_PORT, type WorkerStatus } from './constants.js'
import { Cluster, repoRoot, toolPaths } from './kube.js'
import { hotResource, pairOf } from './rounds.js'
import { collect, installChart, optionsFromEnv, percentile, podChaos } from './scenario.js'

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000,100000,1000000' },
    kills: { type: 'string', default: '50' },
    methods: { type: 'string', default: 'freeze,chaos-mesh,kubectl' },
    'freeze-kills': { type: 'string', default: '5' },
    rate: { type: 'string', default: '1000' },
  },
})
const log = (s: string) => process.stderr.write(`${new Date().toISOString()} ${s}\n`)
const sizes = args.keys.split(',').map(Number)
const killsOf = (m: KillMethod) => Number(m === 'freeze' ? args['freeze-kills'] : args.kills)
const rate = Number(args.rate)
const methods = args.methods.split(',') as KillMethod[]
for (const m of methods) if (m !== 'chaos-mesh' && m !== 'kubectl' && m !== 'freeze') throw new Error(`--methods: unknown method '${m}' (chaos-mesh, kubectl, freeze)`)

const o = optionsFromEnv(process.env, log)
const c = new Cluster(o.kubeconfig, toolPaths(process.env))
const ns = o.namespace
const stamp = Date.now().toString(36)

/** Polls until the pod is terminating or gone; when it was first seen so. */
async function deletionSeen(pod: { name: string; uid: string }, selector: string): Promise<number> {
  return waitFor(`${pod.name} terminating`, async () => {
    const at = Date.now()
    const now = (await c.pods(ns, selector)).find((p) => p.uid === pod.uid)
    return !now || now.deleting ? at : undefined
  }, 60_000, 20)
}

/**
 * The host's processes of a pod, found by its uid in their cgroup (the
 * kubelet names the pod's cgroup after it, with dashes or underscores by
 * cgroup driver): this process runs on the node, as root.
 */
function podProcesses(uid: string): number[] {
  const marks = [`pod${uid}`, `pod${uid.replaceAll('-', '_')}`]
  const pids: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const cg = readFileSync(`/proc/${e}/cgroup`, 'utf8')
      if (marks.some((m) => cg.includes(m))) pids.push(Number(e))
    } catch {
      // Gone meanwhile.
    }
  }
  return pids
}

/** Freezes (SIGSTOP) or thaws (SIGCONT) every process of a pod. */
function signalPod(uid: string, signal: 'SIGSTOP' | 'SIGCONT'): number {
  const pids = podProcesses(uid)
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // Gone meanwhile.
    }
  }
  return pids.length
}

/** One kill of the owner by `method`; the standby's takeover as measured. */
async function killOwner(name: string, method: KillMethod, n: number): Promise<ClusterKill> {
  const selector = `app.kubernetes.io/instance=${name},app.kubernetes.io/component=opb`
  const before = await waitFor(`${name}: the pair ready`, () => pairOf(c, ns, name), 300_000, 200)
  const owner = before.owner.pod
  const chaosName = `${name}-kill-${n}`
  const killedAt = Date.now()
  let seenAt: number | undefined
  if (method === 'freeze') {
    if (signalPod(owner.uid, 'SIGSTOP') === 0) throw new Error(`no process of ${owner.name} (uid ${owner.uid}) found on this host`)
  } else {
    const sent = method === 'kubectl'
      ? c.kubectl(['delete', 'pod', owner.name, '--namespace', ns, '--grace-period=0', '--force'])
      : c.kubectl(['apply', '-f', '-'], JSON.stringify(podChaos(ns, chaosName, { pods: { [ns]: [owner.name] } })))
    seenAt = await deletionSeen(owner, selector)
    await sent
  }
  // Usually the standby; but a force-deleted pod's container outlives its API object by up to a
  // second, and the pod recreated meanwhile may stand by that same owner: then both take over
  // when it dies, the transactional id decides, and the loser restarts. Whichever owns the shard.
  const { recovery: taken, pod: newOwner } = await waitFor('a new owner of the shard', async () => {
    for (const p of await c.pods(ns, selector)) {
      if (p.uid === owner.uid || p.deleting) continue
      const st = await c.workerStatus<WorkerStatus>(ns, p.name, WORKER_PORT).catch(() => undefined)
      const r = st?.lastRecovery
      if (st?.phase === 'running' && r?.firstCommitAt && r.startedAt >= killedAt - 50) return { recovery: r, pod: p.name }
    }
    return undefined
  }, 60_000, 20)
  if (method === 'chaos-mesh') await c.kubectl(['delete', 'podchaos', chaosName, '--namespace', ns, '--wait=false'])
  if (method === 'freeze') {
    // The owner wakes up after the takeover, as a partitioned node that comes back: fenced, it must stop and come back as the standby.
    await sleep(3000)
    signalPod(owner.uid, 'SIGCONT')
  }
  return {
    method,
    ttrMs: taken.firstCommitAt! - killedAt,
    ...(seenAt !== undefined ? { fromDeletionSeenMs: taken.firstCommitAt! - seenAt } : {}),
    detectToCommitMs: taken.firstCommitAt! - taken.startedAt,
    reason: taken.promotion?.reason ?? null,
    byStandby: newOwner === before.standby.pod.name,
    tailRecords: taken.replayedRecords,
    ...(taken.phasesMs ? { phasesMs: taken.phasesMs } : {}),
  }
}

const run: ClusterStandbyRun = { id: new Date().toISOString().replace(/[:.]/g, '-'), kind: 'cluster-standby', startedAt: new Date().toISOString(), finishedAt: '', commit: currentCommit(repoRoot), host: describeHost(), rate, sizes: [] }
let code = 1
/** The pipeline being measured: its logs are collected if the run fails. */
let current: string | undefined
try {
  if (methods.includes('chaos-mesh') && !(await c.hasResource('chaos-mesh.org', 'podchaos'))) throw new Error('Chaos Mesh is not installed (no podchaos.chaos-mesh.org CRD)')
  log('helm install')
  await installChart(c, o)
  const rng = createRng(o.seed)
  for (const keys of sizes) {
    const name = `hot-${keys}`
    current = name
    const pipeline = `sb-${stamp}-${keys}`
    const t = topicsFor(pipeline)
    const settings: KafkaSettings = { brokers: o.brokers.split(','), clientId: `${name}-bench` }
    log(`${name}: writing a history of ${keys} live windows`)
    await writeShardHistory(settings, t, keys, { txId: `${name}-history`, final: true })
    const appliedAt = Date.now()
    await c.kubectl(['apply', '-f', '-'], JSON.stringify(hotResource(o, name, t, { retentionMs: historyRetentionMs(keys), memory: '2Gi' })))
    await waitFor(`${name}: an owner and a standby ready`, () => pairOf(c, ns, name), 600_000, 500)
    const pairReadyMs = Date.now() - appliedAt
    log(`${name}: owner and standby ready ${pairReadyMs} ms after the resource was applied`)
    const load = startLoad({ settings, topic: t.TOPIC_ORDERS, partitions: 1, ratePerSec: rate, zones: 24, seed: o.seed + keys, malformedFraction: 0, maxDisorderMs: 300 })
    const done: ClusterKill[] = []
    let sent = 0
    try {
      await sleep(3000)
      for (const method of methods) {
        const kills = killsOf(method)
        for (let k = 0; k < kills; k++) {
          await sleep(1000 + rng.int(1000))
          const kill = await killOwner(name, method, done.length)
          done.push(kill)
          log(`${name} ${method} ${k + 1}/${kills}: kill -> first commit ${kill.ttrMs} ms (${kill.fromDeletionSeenMs !== undefined ? `terminating seen -> commit ${kill.fromDeletionSeenMs} ms, ` : ''}detection -> commit ${kill.detectToCommitMs} ms, ${kill.reason}, tail ${kill.tailRecords} records)`)
        }
      }
      await waitFor(`${name}: the pair ready again`, () => pairOf(c, ns, name), 300_000, 200)
    } finally {
      await sleep(1500)
      sent = (await load.stop()).sent
    }
    const verdict = await awaitVerdict(settings, pipeline, { orders: 1, shards: 1 }, { windowSizeMs: WINDOW_MS, allowedLatenessMs: LATENESS_MS, outOfOrdernessMs: OUT_OF_ORDERNESS_MS }, 180_000)
    const status = (await c.resource(ns, name)).status
    const promotionsRecorded = [...(status?.shards ?? []), ...(status?.standbys ?? [])].reduce((sum, s) => sum + (s.promotions ?? 0), 0)
    run.sizes.push({ keys, kills: done, verdict: { lost: verdict.lost, duplicated: verdict.duplicated, windows: verdict.windows, sent }, promotionsRecorded, pairReadyMs })
    for (const p of verdict.problems.slice(0, 10)) log(`${name}: ${p}`)
    // Written after every size, so that a later failure keeps the sizes measured.
    run.finishedAt = new Date().toISOString()
    log(`results so far in ${saveResultsFile(repoRoot, run)}`)
    await c.kubectl(['delete', 'statefuloperator', name, '--namespace', ns, '--wait=true', '--timeout=180s'])
  }
  const out = (s: string) => process.stdout.write(`${s}\n`)
  out(`| live keys | method | kills | kill -> first commit p50 ms | p95 | p99 | max | terminating seen -> commit p50 | detection -> commit p50 | lost | duplicated | promotions recorded |`)
  out('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const s of run.sizes) {
    for (const m of methods) {
      const ks = s.kills.filter((k) => k.method === m)
      const ttr = ks.map((k) => k.ttrMs)
      out(`| ${s.keys} | ${m} | ${ks.length} | ${percentile(ttr, 0.5)} | ${percentile(ttr, 0.95)} | ${percentile(ttr, 0.99)} | ${Math.max(...ttr)} | ${ks.every((k) => k.fromDeletionSeenMs !== undefined) ? percentile(ks.map((k) => k.fromDeletionSeenMs!), 0.5) : '-'} | ${percentile(ks.map((k) => k.detectToCommitMs), 0.5)} | ${s.verdict.lost} | ${s.verdict.duplicated} | ${s.promotionsRecorded} |`)
    }
  }
  code = run.sizes.every((s) => s.verdict.lost === 0 && s.verdict.duplicated === 0) ? 0 : 1
} catch (err) {
  log(`standby bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  if (current) await collect(c, o, `standby-bench-${stamp}`, current).catch((e: unknown) => log(`could not collect the logs: ${String(e)}`))
}
process.exit(code)
