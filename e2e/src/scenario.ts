/**
 * The end-to-end scenario, on any cluster: install the chart, apply the
 * sample StatefulOperator pointed at a broker the pods reach, drive city
 * traffic into it from here, kill OpB pods (Chaos Mesh PodChaos pod-kill,
 * then `kubectl delete pod --grace-period=0 --force`), check every recovery,
 * and end with the verifier. Returns what it saw; the vitest test asserts on
 * it and `npm run e2e` prints its figures.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import type { ShardStatus } from '@ridepulse/contracts'
import type { KafkaSettings } from '@ridepulse/kafka'
import { awaitVerdict, createRng, sleep, startLoad, startObjectStore, topicsFor, waitFor, type LocalObjectStore, type VerifyReport } from '@ridepulse/testkit'
import { LATENESS_MS, LOST_CLAIM_TIMEOUT_S, NAME, OUT_OF_ORDERNESS_MS, selector, SHARDS, STORE_SECRET, WINDOW_MS, WORKER_PORT, type WorkerStatus } from './constants.js'
import { Cluster, repoRoot, toolPaths, type PodView } from './kube.js'
import { loseClaim, standbyRound, type LostClaim, type StandbyRound } from './rounds.js'

export type { LostClaim, StandbyRound }
import { checkMonitoring, startMonitoring, type Monitoring, type MonitoringReport } from './prometheus.js'

export type Round = 'chaos-mesh' | 'kubectl'

export interface E2eOptions {
  kubeconfig: string
  /** The broker as both the pods and this process reach it. */
  brokers: string
  workerImage: string
  operatorImage: string
  namespace: string
  operatorNamespace: string
  release: string
  rounds: Round[]
  killsPerRound: number
  /** Events per second the generator produces. */
  rate: number
  seed: number
  /** Leave the chart and the pipeline installed afterwards. */
  keep: boolean
  log: (line: string) => void
}

export function optionsFromEnv(env: NodeJS.ProcessEnv, log: (line: string) => void): E2eOptions {
  const need = (k: string): string => {
    const v = env[k]
    if (!v) throw new Error(`${k} must be set (see docs/e2e.md)`)
    return v
  }
  const rounds = (env.E2E_ROUNDS ?? 'chaos-mesh,kubectl').split(',').map((r) => r.trim()).filter(Boolean)
  for (const r of rounds) if (r !== 'chaos-mesh' && r !== 'kubectl') throw new Error(`E2E_ROUNDS: unknown round '${r}' (chaos-mesh, kubectl)`)
  const int = (k: string, d: number): number => {
    const v = Number(env[k] ?? d)
    if (!Number.isInteger(v) || v < 0) throw new Error(`${k} must be a whole number`)
    return v
  }
  return {
    kubeconfig: need('KUBECONFIG'),
    brokers: need('E2E_KAFKA_BROKERS'),
    workerImage: env.E2E_WORKER_IMAGE ?? 'ridepulse/worker:0.1.0',
    operatorImage: env.E2E_OPERATOR_IMAGE ?? 'ridepulse/operator:0.1.0',
    namespace: env.E2E_NAMESPACE ?? 'ridepulse-e2e',
    operatorNamespace: env.E2E_OPERATOR_NAMESPACE ?? 'ridepulse-e2e-system',
    release: 'ridepulse',
    rounds: rounds as Round[],
    killsPerRound: int('E2E_KILLS', 3),
    rate: int('E2E_RATE', 300),
    seed: int('E2E_SEED', 1),
    keep: env.E2E_KEEP === '1',
    log,
  }
}

export interface Kill {
  round: Round
  shard: number
  pod: string
  oldUid: string
  newUid: string
  /** When the old pod was seen gone from the API (within one poll, about 20 to 50 ms). */
  killedAt: number
  /** Old pod gone → the replacement's first committed transaction (its output flowing again). */
  ttrMs: number
  /** Old pod gone → the replacement's worker process started recovering (the rest of the time is the worker's). */
  startedMs: number
  /** Old pod gone → the replacement's worker recovered and ready. */
  readyMs: number
  /** Whether the operator had to nudge the replacement's kubelet (no container started 2 s after the pod was recreated). */
  kubeletNudged: boolean
  /** The replacement's claim, and whether it is the one the shard had from the start (same name and uid). */
  claim: string | undefined
  sameClaim: boolean
  /** What the replacement's worker reports in /status. */
  worker: { snapshotId: string | null; snapshotKind: string | null; replayedRecords: number; changelogFrom: number; timeToRecoverMs: number }
  /** What the StatefulOperator's status recorded for this recovery. */
  recorded: { reason: string; timeToRecoverMs: number | undefined; snapshotId: string | undefined; statusError: string | undefined; recoveries: number }
  /** Pods other than the killed one (the other shards, OpA) whose uid or restart count changed. */
  othersDisturbed: string[]
}

export interface E2eReport {
  kills: Kill[]
  lostClaim: LostClaim
  standby: StandbyRound
  verdict: VerifyReport
  /** OpA pods whose uid or restart count changed over the whole run. */
  opaDisturbed: string[]
  load: { sent: number; sendErrors: number }
  durationsMs: Record<string, number>
  /** Each shard's lag as the operator read it from the workers into the resource's status, under load after the kills. */
  lag: { shard: number; lag: ShardStatus['lag'] }[]
  /** A real Prometheus that scraped the pods through the run, the chart's alerts loaded: the dashboard's panels and the rules. */
  monitoring: MonitoringReport
  /** The chart's own checks: `helm test`, and an uninstall with the sample resource installed (undefined with E2E_KEEP). */
  chart: { helmTest: { ok: boolean; output: string }; uninstall?: { ok: boolean; sampleGone: boolean; output: string } }
}

/** The sample resource of examples/, pointed at this run's broker, images, topics and snapshot store; windows and snapshots shortened. */
export function sampleResource(o: E2eOptions, prefix: string, store?: LocalObjectStore): Record<string, unknown> {
  const r = parse(readFileSync(join(repoRoot, 'examples', 'statefuloperator.yaml'), 'utf8')) as {
    metadata: Record<string, unknown>
    spec: Record<string, Record<string, unknown>>
  }
  r.metadata = { name: NAME, namespace: o.namespace }
  r.spec.kafka = { ...r.spec.kafka, bootstrapServers: o.brokers.split(',') }
  // Topic names of this run only, so runs against one broker never meet:
  // the local demo's, under the run's prefix.
  const t = topicsFor(prefix)
  r.spec.topics = {
    ...r.spec.topics,
    orders: t.TOPIC_ORDERS,
    enriched: t.TOPIC_ENRICHED,
    dlq: t.TOPIC_DLQ,
    output: t.TOPIC_OUTPUT,
    late: t.TOPIC_LATE,
    changelog: t.TOPIC_CHANGELOG,
    snapshots: t.TOPIC_SNAPSHOTS,
    ordersPartitions: SHARDS,
  }
  r.spec.opa = { ...r.spec.opa, image: o.workerImage }
  // A small node (two cores) runs three shards, OpA, the operator and the broker.
  r.spec.opb = { ...r.spec.opb, shards: SHARDS, image: o.workerImage, resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } } }
  r.spec.snapshots = {
    ...r.spec.snapshots,
    intervalMs: 2000,
    fullEvery: 3,
    ...(store ? { remote: { bucket: store.bucket, endpoint: store.endpoint, prefix: `${prefix}/`, credentials: { secretName: STORE_SECRET } } } : {}),
  }
  r.spec.recovery = { ...r.spec.recovery, lostClaimTimeoutSeconds: LOST_CLAIM_TIMEOUT_S }
  r.spec.windows = { sizeMs: WINDOW_MS, allowedLatenessMs: LATENESS_MS, outOfOrdernessMs: OUT_OF_ORDERNESS_MS, idleTimeoutMs: 1500 }
  return r
}

/** A one-shot Chaos Mesh `pod-kill` of one pod chosen by `selector` (labels or names), with no grace. */
export function podChaos(ns: string, name: string, selector: Record<string, unknown> = { labelSelectors: { 'app.kubernetes.io/instance': NAME, 'app.kubernetes.io/component': 'opb' } }): Record<string, unknown> {
  // Every field spelled out: Chaos Mesh's defaulting webhook may not be installed.
  return {
    apiVersion: 'chaos-mesh.org/v1alpha1',
    kind: 'PodChaos',
    metadata: { name, namespace: ns },
    spec: { action: 'pod-kill', mode: 'one', gracePeriod: 0, selector: { namespaces: [ns], ...selector } },
  }
}

const splitImage = (image: string): [string, string] => {
  const i = image.lastIndexOf(':')
  return i > image.lastIndexOf('/') ? [image.slice(0, i), image.slice(i + 1)] : [image, 'latest']
}

const changed = (before: PodView[], after: PodView[]): string[] =>
  before.flatMap((b) => {
    const a = after.find((p) => p.name === b.name)
    if (!a) return [`${b.name}: gone`]
    if (a.uid !== b.uid) return [`${b.name}: replaced (uid ${b.uid} -> ${a.uid})`]
    if (a.restarts !== b.restarts) return [`${b.name}: restarted (${b.restarts} -> ${a.restarts})`]
    return []
  })

/**
 * The operator's chart, installed (or upgraded) with the run's operator
 * image, watching the run's namespace, which is created first (the chart
 * puts a Role in each watched namespace).
 */
export async function installChart(c: Cluster, o: E2eOptions, extra: string[] = []): Promise<string> {
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: o.namespace } }))
  const [repository, tag] = splitImage(o.operatorImage)
  return c.helm(['upgrade', '--install', o.release, join(repoRoot, 'helm', 'ridepulse-operator'), '--namespace', o.operatorNamespace, '--create-namespace',
    // The kubelet nudge (off by default) is on: on this one-node cluster the Node authorizer's lag
    // does occur, and its real FailedMount events are what the nudge must recognise.
    '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`, '--set', 'kubeletNudge=true', '--set', 'lagPollMs=2000', '--set', `watchNamespaces={${o.namespace},${o.operatorNamespace}}`,
    ...extra, '--wait', '--timeout', '5m'])
}

export async function runE2e(o: E2eOptions): Promise<E2eReport> {
  const c = new Cluster(o.kubeconfig, toolPaths(process.env))
  const ns = o.namespace
  const prefix = `e2e-${Date.now().toString(36)}`
  const settings: KafkaSettings = { brokers: o.brokers.split(','), clientId: `${prefix}-e2e` }
  const rng = createRng(o.seed)
  const durationsMs: Record<string, number> = {}
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now()
    o.log(`${what}...`)
    const v = await fn()
    durationsMs[what] = Date.now() - t
    o.log(`${what}: ${durationsMs[what]} ms`)
    return v
  }

  if (o.rounds.includes('chaos-mesh') && !(await c.hasResource('chaos-mesh.org', 'podchaos'))) {
    throw new Error('Chaos Mesh is not installed (no podchaos.chaos-mesh.org CRD): install it (docs/e2e.md), or set E2E_ROUNDS=kubectl')
  }
  let load: ReturnType<typeof startLoad> | undefined
  let monitoring: Monitoring | undefined
  let store: LocalObjectStore | undefined
  let collected = false
  let uninstalled = false
  try {
    await timed('helm install', () =>
      // The sample resource too (on a broker that does not exist: it gets the operator's finalizer and no pods),
      // for the uninstall to show it goes first instead of staying Terminating.
      installChart(c, o, ['--set', 'sample.create=true']))
    const helmTest = await timed('helm test', () => c.helm(['test', o.release, '--namespace', o.operatorNamespace, '--logs', '--timeout', '3m']).then(
      (output) => ({ ok: true, output }),
      (err: unknown) => ({ ok: false, output: String(err) }),
    ))
    o.log(`helm test: ${helmTest.ok ? 'passed' : 'FAILED'}\n${helmTest.output}`)
    // The S3-compatible store the shards copy their full snapshots to, where the pods reach the broker.
    store = await timed('object store', () => startObjectStore({ host: o.brokers.split(',')[0]!.replace(/:\d+$/, '') }))
    const s3 = store
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: STORE_SECRET, namespace: ns },
      stringData: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
    }))
    await timed('pipeline running', async () => {
      await c.kubectl(['apply', '-f', '-'], JSON.stringify(sampleResource(o, prefix, s3)))
      await waitFor('the pipeline Running: every shard and OpA ready', async () => {
        const r = await c.resource(ns, NAME)
        return r.status?.phase === 'Running' && r.status.readyShards === SHARDS
      }, 300_000, 500)
    })

    // The shards, OpA and at least one operator replica, scraped before the load and the kills.
    monitoring = await timed('prometheus', () => startMonitoring(o.kubeconfig, SHARDS + 2, o.log))
    load = startLoad({ settings, topic: `${prefix}.orders`, partitions: SHARDS, ratePerSec: o.rate, zones: 24, seed: o.seed, malformedFraction: 0.01, maxDisorderMs: 300 })
    const opaAtStart = await c.pods(ns, selector('opa'))
    const opbAtStart = await c.pods(ns, selector('opb'))
    const claimsAtStart = new Map<string, string>()
    for (const p of opbAtStart) if (p.claim) claimsAtStart.set(p.claim, (await c.claim(ns, p.claim)).uid)

    const kills: Kill[] = []
    const startKills = Date.now()
    for (const round of o.rounds) {
      for (let k = 0; k < o.killsPerRound; k++) {
        // Every shard has a snapshot on its volume before any is killed: the point is local recovery.
        await waitFor('every OpB shard running with a snapshot', async () => {
          const r = await c.resource(ns, NAME)
          if (r.status?.phase !== 'Running') return false
          const pods = await c.pods(ns, selector('opb'))
          if (pods.length !== SHARDS || pods.some((p) => !p.ready || p.deleting)) return false
          for (const p of pods) {
            const s = await c.workerStatus<WorkerStatus>(ns, p.name, WORKER_PORT)
            if (s.phase !== 'running' || !s.lastSnapshot) return false
          }
          return true
        }, 120_000, 250)
        await sleep(500 + rng.int(1500))
        const before = await c.pods(ns, selector('opb'))
        const opaBefore = await c.pods(ns, selector('opa'))
        const recoveriesBefore = (await c.resource(ns, NAME)).status?.recoveries ?? 0
        const chaosName = `${prefix}-opb-kill-${kills.length}`
        let deletion: Promise<string> | undefined
        if (round === 'kubectl') {
          const victim = before[rng.int(before.length)]!
          deletion = c.kubectl(['delete', 'pod', victim.name, '--namespace', ns, '--grace-period=0', '--force'])
        } else {
          await c.kubectl(['apply', '-f', '-'], JSON.stringify(podChaos(ns, chaosName)))
        }
        // Whichever pod went: the one whose uid is no longer among the live pods.
        const { gone, killedAt } = await waitFor('an OpB pod killed', async () => {
          const at = Date.now()
          const now = await c.pods(ns, selector('opb'))
          const g = before.find((b) => !now.some((p) => p.uid === b.uid && !p.deleting))
          return g ? { gone: g, killedAt: at } : undefined
        }, 60_000, 20)
        await deletion
        const shard = Number(gone.name.slice(gone.name.lastIndexOf('-') + 1))
        const replacement = await waitFor(`${gone.name} replaced and ready`, async () => {
          const p = (await c.pods(ns, selector('opb'))).find((x) => x.name === gone.name)
          return p && p.uid !== gone.uid && p.ready && !p.deleting ? p : undefined
        }, 120_000, 50)
        const w = await waitFor(`${gone.name}'s first commit after its recovery`, async () => {
          const s = await c.workerStatus<WorkerStatus>(ns, gone.name, WORKER_PORT)
          return s.lastRecovery?.firstCommitAt ? s.lastRecovery : undefined
        }, 60_000, 50)
        const recorded = await waitFor(`the recovery of shard ${shard} in the resource's status`, async () => {
          const r = await c.resource(ns, NAME)
          const s: ShardStatus | undefined = r.status?.shards?.find((x) => x.shard === shard)
          const last = s?.lastRecovery
          return (r.status?.recoveries ?? 0) > recoveriesBefore && last?.readyAt && s?.podUid === replacement.uid && (last.snapshotId || last.statusError)
            ? { last, recoveries: r.status?.recoveries ?? 0 }
            : undefined
        }, 60_000, 200)
        if (round === 'chaos-mesh') await c.kubectl(['delete', 'podchaos', chaosName, '--namespace', ns, '--wait=false'])
        const after = await c.pods(ns, selector('opb'))
        const opaAfter = await c.pods(ns, selector('opa'))
        const claimUid = replacement.claim ? (await c.claim(ns, replacement.claim)).uid : undefined
        const kill: Kill = {
          round,
          shard,
          pod: gone.name,
          oldUid: gone.uid,
          newUid: replacement.uid,
          killedAt,
          ttrMs: w.firstCommitAt! - killedAt,
          startedMs: w.startedAt - killedAt,
          readyMs: w.readyAt - killedAt,
          kubeletNudged: replacement.kubeletNudgedAt !== undefined,
          claim: replacement.claim,
          sameClaim: replacement.claim === gone.claim && claimUid !== undefined && claimsAtStart.get(replacement.claim ?? '') === claimUid,
          worker: {
            snapshotId: w.snapshot?.snapshotId ?? null,
            snapshotKind: w.snapshot?.kind ?? null,
            replayedRecords: w.replayedRecords,
            changelogFrom: w.changelogFrom,
            timeToRecoverMs: w.timeToRecoverMs,
          },
          recorded: {
            reason: recorded.last.reason,
            timeToRecoverMs: recorded.last.timeToRecoverMs,
            snapshotId: recorded.last.snapshotId,
            statusError: recorded.last.statusError,
            recoveries: recorded.recoveries,
          },
          othersDisturbed: [...changed(before.filter((p) => p.name !== gone.name), after), ...changed(opaBefore, opaAfter)],
        }
        kills.push(kill)
        o.log(
          `kill ${kills.length} (${round}): ${gone.name} gone -> worker started ${kill.startedMs} ms, ready ${kill.readyMs} ms, first commit ${kill.ttrMs} ms; ` +
            `snapshot ${kill.worker.snapshotId ?? 'none'} (${kill.worker.snapshotKind ?? '-'}), ${kill.worker.replayedRecords} changelog records replayed; ` +
            `status: ${kill.recorded.reason}, ${kill.recorded.timeToRecoverMs ?? '?'} ms${kill.kubeletNudged ? '; kubelet nudged' : ''}${kill.othersDisturbed.length ? `; DISTURBED: ${kill.othersDisturbed.join(', ')}` : ''}`,
        )
      }
    }
    durationsMs.kills = Date.now() - startKills
    const lostClaim = await timed('lost claim', () => loseClaim(c, o, s3, prefix))
    const standby = await timed('standby round', () => standbyRound(c, o, prefix))

    // Under load still: every shard's lag, read by the operator from its worker within the last poll or two.
    const lagSince = Date.now()
    const lag = await waitFor('every shard\'s lag in the resource\'s status', async () => {
      const shards = (await c.resource(ns, NAME)).status?.shards ?? []
      const fresh = shards.filter((s) => s.lag && Date.parse(s.lag.observedAt) >= lagSince)
      return fresh.length === SHARDS ? shards.map((s) => ({ shard: s.shard, lag: s.lag })) : undefined
    }, 60_000).catch((err: unknown) => (o.log(`lag: ${String(err)}`), [] as E2eReport['lag']))
    o.log(`lag: ${lag.map((l) => `shard ${l.shard} ${l.lag?.records} records, ${l.lag?.inputSeconds} s`).join('; ')}`)
    const mon = monitoring
    const monitoringReport = await timed('dashboard queries', () => checkMonitoring(mon, SHARDS + 1, 60_000))
    const noData = monitoringReport.panels.filter((p) => p.series === 0)
    o.log(`prometheus: pods up ${monitoringReport.targetsUp.join(', ')}; ${monitoringReport.rules} alerting rules, firing: ${monitoringReport.firing.join(', ') || 'none'}; panels without data: ${noData.map((p) => `${p.title}${p.error ? ` (${p.error})` : ''}`).join(', ') || 'none'}`)

    await sleep(1500)
    const stats = await load.stop()
    load = undefined
    const verdict = await timed('verdict', () => awaitVerdict(settings, prefix, { orders: SHARDS, shards: SHARDS }, { windowSizeMs: WINDOW_MS, allowedLatenessMs: LATENESS_MS, outOfOrdernessMs: OUT_OF_ORDERNESS_MS }, 120_000))
    o.log(`verifier: windows ${verdict.windows}, valid events ${verdict.validEvents}, late ${verdict.lateEvents}, lost ${verdict.lost}, duplicated ${verdict.duplicated}${verdict.problems.length ? `; ${verdict.problems.join('; ')}` : ''}`)
    const opaDisturbed = changed(opaAtStart, await c.pods(ns, selector('opa')))
    await collect(c, o, prefix)
    collected = true
    const chart: E2eReport['chart'] = { helmTest }
    if (!o.keep) {
      chart.uninstall = await timed('uninstall', () => uninstall(c, o))
      uninstalled = true
    }
    return { kills, lostClaim, standby, verdict, opaDisturbed, lag, monitoring: monitoringReport, load: { sent: stats.sent, sendErrors: stats.sendErrors }, durationsMs, chart }
  } finally {
    if (load) await load.stop().catch((err: unknown) => o.log(`stopping the load: ${String(err)}`))
    await monitoring?.stop().catch((err: unknown) => o.log(`stopping prometheus: ${String(err)}`))
    await store?.stop().catch((err: unknown) => o.log(`stopping the object store: ${String(err)}`))
    if (!collected) await collect(c, o, prefix)
    if (!o.keep && !uninstalled) await timed('uninstall', () => uninstall(c, o))
  }
}

/** The operator's and the workers' logs, the events and the resource, kept for reading after the cluster is gone. */
/** The operator's and a pipeline's logs (the previous container's too), the events, the pods and the resource, into E2E_ARTIFACTS. */
export async function collect(c: Cluster, o: E2eOptions, prefix: string, pipeline = NAME): Promise<void> {
  const dir = join(process.env.E2E_ARTIFACTS ?? tmpdir(), `ridepulse-${prefix}`)
  mkdirSync(dir, { recursive: true })
  const workers = `app.kubernetes.io/instance=${pipeline}`
  const files: [string, string[]][] = [
    ['operator.log', ['logs', '--namespace', o.operatorNamespace, '--selector', `app.kubernetes.io/instance=${o.release}`, '--prefix', '--tail=-1', '--all-containers']],
    ['workers.log', ['logs', '--namespace', o.namespace, '--selector', workers, '--prefix', '--tail=-1', '--max-log-requests=10']],
    ['pods.txt', ['describe', 'pods', '--namespace', o.namespace, '--selector', workers]],
    ['events.txt', ['get', 'events', '--namespace', o.namespace, '--sort-by=.lastTimestamp', '-o', 'wide']],
    ['resource.yaml', ['get', 'statefuloperators.ridepulse.io', pipeline, '--namespace', o.namespace, '-o', 'yaml']],
  ]
  for (const [file, args] of files) {
    const text = await c.kubectl(args).catch((err: unknown) => `could not collect: ${String(err)}\n`)
    writeFileSync(join(dir, file), text)
  }
  // The container before the last restart of each pod that restarted, one pod at a time (kubectl refuses a selector when one pod has none).
  const restarted = await c.pods(o.namespace, workers).then((ps) => ps.filter((p) => p.restarts > 0), () => [])
  for (const p of restarted) {
    const text = await c.kubectl(['logs', '--namespace', o.namespace, p.name, '--previous', '--tail=-1']).catch((err: unknown) => `could not collect: ${String(err)}\n`)
    writeFileSync(join(dir, `${p.name}-previous.log`), text)
  }
  o.log(`logs, events and the resource's last status in ${dir}`)
}

/**
 * The resource first (the operator, still running, releases its claims), then
 * the namespace and the chart, whose pre-delete hook removes the sample
 * resource the same way; whether that one is gone after `helm uninstall`.
 */
async function uninstall(c: Cluster, o: E2eOptions): Promise<{ ok: boolean; sampleGone: boolean; output: string }> {
  const steps: [string, string[]][] = [
    ['podchaos', ['delete', 'podchaos', '--all', '--namespace', o.namespace, '--ignore-not-found', '--wait=false']],
    ['resource', ['delete', 'statefuloperators.ridepulse.io', NAME, '--namespace', o.namespace, '--ignore-not-found', '--timeout=120s']],
    ['namespace', ['delete', 'namespace', o.namespace, '--ignore-not-found', '--timeout=180s']],
  ]
  for (const [what, args] of steps) {
    // podchaos fails where Chaos Mesh is not installed: that is fine.
    await c.kubectl(args).catch((err: unknown) => what !== 'podchaos' && o.log(`uninstall ${what}: ${String(err)}`))
  }
  const helmUninstall = await c.helm(['uninstall', o.release, '--namespace', o.operatorNamespace, '--wait', '--timeout', '3m']).then(
    (output) => ({ ok: true, output }),
    (err: unknown) => (o.log(`helm uninstall: ${String(err)}`), { ok: false, output: String(err) }),
  )
  const sample = await c.kubectl(['get', 'statefuloperators.ridepulse.io', 'rides', '--namespace', o.operatorNamespace, '--ignore-not-found', '-o', 'name']).catch((err: unknown) => `could not look: ${String(err)}`)
  await c.kubectl(['delete', 'namespace', o.operatorNamespace, '--ignore-not-found', '--timeout=180s']).catch((err: unknown) => o.log(`uninstall: ${String(err)}`))
  return { ...helmUninstall, sampleGone: sample.trim() === '' }
}

/** Nearest-rank percentile. */
export function percentile(values: number[], f: number): number {
  if (values.length === 0) return 0
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(f * s.length) - 1))]!
}
