import type { ChaosRun, ClusterRecoveryRun, ClusterStandbyRun, OperatorRun, SoakRun } from '@ridepulse/testkit'
import type { Experiment, Figure, Series } from './results.js'
import { medianBy, summarize } from './stats.js'

/**
 * The newest cluster standby run (e2e/local.sh standby) as an experiment of
 * the report: per state size and kill method, kill → the new owner's first
 * commit, and the verifier's verdict per size.
 */
export function clusterStandbyExperiment(run: ClusterStandbyRun): Experiment {
  const figures: Figure[] = []
  const methods = [...new Set(run.sizes.flatMap((s) => s.kills.map((k) => k.method)))]
  for (const s of run.sizes) {
    for (const m of methods) {
      const ks = s.kills.filter((k) => k.method === m)
      if (ks.length === 0) continue
      const reasons = Object.fromEntries([...new Set(ks.map((k) => k.reason ?? 'none'))].map((r) => [r, ks.filter((k) => (k.reason ?? 'none') === r).length]))
      figures.push(
        { key: `cluster.standby.ttr.${m}.${s.keys}`, label: `${s.keys.toLocaleString('en')} keys, ${m}: kill → first commit`, unit: 'ms', summary: summarize(ks.map((k) => k.ttrMs)), params: { keys: s.keys, method: m, ...reasons, takenByTheStandby: ks.filter((k) => k.byStandby !== false).length } },
        ...(m === 'freeze' ? [] : [{ key: `cluster.standby.fromSeen.${m}.${s.keys}`, label: `${s.keys.toLocaleString('en')} keys, ${m}: pod deleted (seen terminating) → first commit`, unit: 'ms', summary: summarize(ks.map((k) => k.fromDeletionSeenMs ?? k.ttrMs)), params: { keys: s.keys, method: m } }]),
        { key: `cluster.standby.detect.${m}.${s.keys}`, label: `${s.keys.toLocaleString('en')} keys, ${m}: death detected → first commit`, unit: 'ms', summary: summarize(ks.map((k) => k.detectToCommitMs)), params: { tailRecordsMax: Math.max(...ks.map((k) => k.tailRecords)) } },
      )
    }
    figures.push({ key: `cluster.standby.exact.${s.keys}`, label: `${s.keys.toLocaleString('en')} keys: lost + duplicated windows`, unit: 'windows', value: s.verdict.lost + s.verdict.duplicated, params: { kills: s.kills.length, promotionsRecorded: s.promotionsRecorded, windows: s.verdict.windows, sent: s.verdict.sent, lost: s.verdict.lost, duplicated: s.verdict.duplicated, pairReadyMs: s.pairReadyMs } })
  }
  return {
    title: 'Standby failover on Kubernetes',
    method:
      `\`e2e/local.sh standby\` (run \`${run.id}\`, commit ${run.commit}, ${run.host.cores} cores, ${run.host.cpu}): the chart's operator on the single-node cluster runs a pipeline of one shard with a hot standby (spec.opb.standby), on a changelog already holding that many live windows, under ${run.rate} events/s. ` +
      'The pod owning the shard is taken out again and again, once the pair is ready each time: first (freeze) by SIGSTOP to every process of the pod from the host, as if its node went silent: the connection stays open, the beats stop, the standby takes over after its lease (1 s; four leases once the shard has had three owners within five minutes, the flapping guard) and the frozen owner, resumed 3 s later, finds itself fenced and restarts as the standby; then by a Chaos Mesh PodChaos pod-kill of that pod, and by `kubectl delete pod --grace-period=0 --force`. ' +
      'Kill → first commit runs from the kill issued (the PodChaos created, which Chaos Mesh\'s controller acts on a few hundred milliseconds later; the delete command started; SIGSTOP sent) to the new owner\'s first committed transaction (its worker\'s lastRecovery.firstCommitAt); pod deleted → first commit from the pod first seen terminating in the API (polled every 20 ms), the moment the pod is killed as far as Kubernetes is concerned. What ended the owner, per kill: `deleted` (the operator saw the pod deleted and told the standby at once), `stopped` (the kubelet\'s SIGTERM reached the owner first and it handed the shard over), `connection-closed` (the process died), `silent` (the lease ran out). The operator recreates the killed pod, which stands by in turn. The verifier checks the output after each size.',
    figures,
  }
}

/**
 * The newest run of `e2e/local.sh bench` as an experiment of the report: per
 * kill method, the old pod gone → the replacement's first commit, and its
 * phases, then the verdict.
 */
export function clusterRecoveryExperiment(run: ClusterRecoveryRun): Experiment {
  const figures: Figure[] = []
  for (const round of [...new Set(run.kills.map((k) => k.round))]) {
    const ks = run.kills.filter((k) => k.round === round)
    const params = { method: round, kubeletNudged: ks.filter((k) => k.kubeletNudged).length, fromLocalSnapshot: ks.filter((k) => k.snapshotKind !== null).length }
    figures.push(
      { key: `cluster.recovery.ttr.${round}`, label: `${round}: pod gone → first commit of the replacement`, unit: 'ms', summary: summarize(ks.map((k) => k.ttrMs)), params },
      { key: `cluster.recovery.started.${round}`, label: `${round}: pod gone → replacement's worker started`, unit: 'ms', summary: summarize(ks.map((k) => k.startedMs)) },
      { key: `cluster.recovery.ready.${round}`, label: `${round}: pod gone → replacement's worker ready`, unit: 'ms', summary: summarize(ks.map((k) => k.readyMs)) },
    )
  }
  figures.push({ key: 'cluster.recovery.exact', label: 'lost + duplicated windows', unit: 'windows', value: run.verdict.lost + run.verdict.duplicated, params: { kills: run.kills.length, windows: run.verdict.windows, sent: run.verdict.sent, lost: run.verdict.lost, duplicated: run.verdict.duplicated, failedChecks: run.failedChecks.length } })
  return {
    title: 'Local recovery on Kubernetes',
    method:
      `\`e2e/local.sh bench\` (run \`${run.id}\`, commit ${run.commit}, ${run.host.cores} cores, ${run.host.cpu}): the chart's operator on the single-node cluster runs the pipeline of ${run.shards} shards without standbys under ${run.rate} events/s; OpB pods are killed by a Chaos Mesh PodChaos pod-kill and by \`kubectl delete pod --grace-period=0 --force\`, and each replacement recovers from the snapshot on its own volume and the changelog. ` +
      'Times run from the old pod gone from the API (polled) to the replacement\'s worker process started, ready, and to its first committed transaction; the operator nudges a kubelet that has not started the container 2 s after the pod was recreated. Then the verifier.' +
      (run.failedChecks.length ? ` Checks that failed in this run: ${run.failedChecks.join('; ')}.` : ''),
    figures,
  }
}

/** The newest chaos run with standbys (`npm run chaos -- --standby --json …`) as an experiment of the report. */
export function chaosExperiment(run: ChaosRun): Experiment {
  const takeovers = run.kills.flatMap((k) => (k.takeover ? [k.takeover] : []))
  const reasons = Object.fromEntries([...new Set(takeovers.map((t) => t.reason))].map((r) => [r, takeovers.filter((t) => t.reason === r).length]))
  return {
    title: `The chaos run${run.mode === 'standby' ? ' with standbys' : ''}, without Kubernetes`,
    method:
      `\`npm run chaos -- --kills ${run.kills.length}${run.mode === 'standby' ? ' --standby' : ''} --rate ${run.rate} --seed ${run.seed}\` (run \`${run.id}\`, commit ${run.commit}, ${run.host.cores} cores, ${run.host.cpu}): OpA and ${run.shards} OpB shards on one broker under ${run.rate} events/s, ` +
      (run.mode === 'standby' ? 'every shard as an owner and a hot standby, the owner of a random shard killed with SIGKILL each time, its standby taking over and the killed process coming back as the standby; ' : 'a random shard killed with SIGKILL and started again at once each time; ') +
      'kill → the first transaction the shard\'s new owner commits, then the verifier against the raw input.',
    figures: [
      { key: `chaos.${run.mode}.ttr`, label: 'kill → first commit of the new owner', unit: 'ms', summary: summarize(run.kills.map((k) => k.ttrMs)), params: reasons },
      ...(takeovers.length ? [{ key: `chaos.${run.mode}.detect`, label: 'death detected → first commit', unit: 'ms', summary: summarize(takeovers.map((t) => t.detectToCommitMs)) }] : []),
      { key: `chaos.${run.mode}.exact`, label: 'lost + duplicated windows', unit: 'windows', value: run.verdict.lost + run.verdict.duplicated, params: { kills: run.kills.length, windows: run.verdict.windows, validEvents: run.verdict.validEvents, lost: run.verdict.lost, duplicated: run.verdict.duplicated } },
    ],
  }
}

/** The newest run of `npm run bench:operator` as an experiment of the report. */
export function operatorExperiment(run: OperatorRun): Experiment {
  return {
    title: 'The operator on a real API server',
    method:
      `\`npm run bench:operator\` (run \`${run.id}\`, commit ${run.commit}, ${run.host.cores} cores, ${run.host.cpu}): one etcd and kube-apiserver on loopback and one broker. ` +
      'A pod of a three-shard pipeline deleted with grace period 0 (as a Chaos Mesh pod-kill does), the operator running as its own process, to the replacement pod created (the API server polled every 5 ms); then the reconcile of one resource at each shard count, run in the benchmark\'s process: the pass that creates every claim, pod, service and the StatefulSet, and a settled pass with nothing to change.',
    figures: [
      { key: 'operator.recreate', label: 'pod deleted (grace 0) → replacement pod created', unit: 'ms', summary: summarize(run.recreateMs) },
      ...run.reconcile.flatMap((r) => [
        { key: `operator.reconcile.creating.${r.shards}`, label: `reconcile, ${r.shards} shards, creating pass`, unit: 'ms', summary: summarize(r.creatingMs), params: { shards: r.shards } },
        { key: `operator.reconcile.settled.${r.shards}`, label: `reconcile, ${r.shards} shards, settled pass`, unit: 'ms', summary: summarize(r.settledMs), params: { shards: r.shards } },
      ]),
    ],
  }
}

/** The median of a list (the lower middle of an even count); 0 when empty. */
const median = (xs: number[]) => (xs.length ? medianBy(xs, (x) => x) : 0)

/** The first and the last tenth of a run's samples, at least one each. */
const tenths = <T>(xs: T[]): [T[], T[]] => {
  const n = Math.max(1, Math.floor(xs.length / 10))
  return [xs.slice(0, n), xs.slice(-n)]
}

/** The age at which a restarted shard's memory is compared with its earlier lives'. */
const AGE_S = 50

/**
 * A process's memory over the run. One never killed: every sample after the
 * first minute. A shard killed and replaced during the run: its memory at
 * the same age in each life (the first sample `AGE_S` after each restart),
 * since its plain samples rise and fall with the time since its last kill
 * (a kill comes every minute, so every life reaches that age).
 */
function memoryOf(run: SoakRun, name: string): { samples: number[]; restarts: number } {
  const shard = /^opb-(\d+)$/.exec(name)
  const restarts = shard ? run.kills.filter((k) => k.shard === Number(shard[1])).map((k) => k.atS) : []
  if (restarts.length === 0) return { samples: run.memory.filter((m) => m.atS >= 60 && m.rssMB[name] !== undefined).map((m) => m.rssMB[name]!), restarts: 0 }
  const samples: number[] = []
  restarts.forEach((start, i) => {
    const end = restarts[i + 1] ?? Infinity
    const at = run.memory.find((m) => m.atS >= start + AGE_S && m.atS < end && m.rssMB[name] !== undefined)
    if (at) samples.push(at.rssMB[name]!)
  })
  return { samples, restarts: restarts.length }
}

/**
 * The newest soak (`npm run bench:soak`) as an experiment of the report:
 * per process, its memory in the first and the last tenth of the run; the
 * latency p99 minute by minute, first tenth against last; the kills; the
 * verdict; and both over time as charts.
 */
export function soakExperiment(run: SoakRun): Experiment {
  const names = [...new Set(run.memory.flatMap((m) => Object.keys(m.rssMB)))].sort()
  const figures: Figure[] = []
  // The first minute is the warm-up (the state and the client's buffers grow to their working size).
  const settled = run.memory.filter((m) => m.atS >= 60)
  for (const name of names) {
    const { samples, restarts } = memoryOf(run, name)
    const [first, last] = tenths(samples)
    const a = median(first)
    const b = median(last)
    const label = restarts > 0 ? `${name}: resident memory ${AGE_S} s after each restart (${restarts} restarts), last tenth against the first` : `${name}: resident memory, last tenth against the first after the first minute`
    figures.push({ key: `soak.rss.${name}`, label, unit: '%', value: a > 0 ? Math.round(((b - a) / a) * 1000) / 10 : 0, params: { firstMB: a, lastMB: b, maxMB: Math.max(...settled.map((m) => m.rssMB[name] ?? 0)), restarts } })
  }
  const rss = figures.filter((x) => x.key.startsWith('soak.rss.'))
  const worst = rss.reduce<Figure | undefined>((w, x) => (!w || Math.abs(x.value ?? 0) > Math.abs(w.value ?? 0) ? x : w), undefined)
  if (worst) figures.push({ key: 'soak.rss.worst', label: 'the process whose memory moved most', unit: '%', value: worst.value ?? 0, params: { process: worst.key.slice('soak.rss.'.length) } })
  const [firstP99, lastP99] = tenths(run.latency.map((l) => l.p99))
  const a = median(firstP99)
  const b = median(lastP99)
  figures.push(
    { key: 'soak.p99.minutes', label: 'end-to-end latency p99, minute by minute', unit: 'ms', summary: summarize(run.latency.map((l) => l.p99)), params: { minutes: run.latency.length } },
    { key: 'soak.p99.drift', label: 'latency p99, last tenth of the minutes against the first', unit: '%', value: a > 0 ? Math.round(((b - a) / a) * 1000) / 10 : 0, params: { firstMs: a, lastMs: b, events: run.latency.reduce((n, l) => n + l.n, 0) } },
    { key: 'soak.firstCommit', label: 'each kill: death → first committed transaction', unit: 'ms', summary: summarize(run.kills.map((k) => k.firstCommitMs)), params: { kills: run.kills.length } },
    { key: 'soak.caughtUp', label: 'each kill: death → caught up', unit: 'ms', summary: summarize(run.kills.map((k) => k.caughtUpMs)) },
    { key: 'soak.exact', label: 'lost + duplicated windows', unit: 'windows', value: run.verdict.lost + run.verdict.duplicated, params: { minutes: run.latency.length, windows: run.verdict.windows, sent: run.verdict.sent, lost: run.verdict.lost, duplicated: run.verdict.duplicated } },
  )
  const series: Series[] = [
    { title: 'Resident memory of every process', x: 'minutes', y: 'MB', points: run.memory.flatMap((m) => Object.entries(m.rssMB).map(([name, mb]) => ({ x: Math.round(m.atS / 6) / 10, y: mb, series: name }))) },
    { title: 'End-to-end latency, minute by minute', x: 'minute', y: 'ms', points: run.latency.flatMap((l) => [{ x: l.minute, y: l.p50, series: 'p50' }, { x: l.minute, y: l.p99, series: 'p99' }]) },
  ]
  return {
    title: 'Soak: a long run at half load, a kill every minute',
    method:
      `\`npm run bench:soak\` (run \`${run.id}\`, commit ${run.commit}, ${run.host.cores} cores, ${run.host.cpu}): OpA ×1 and OpB ×${run.shards} on one broker under ${run.rate.toLocaleString('en')} events/s${run.max ? ` (half of the ${run.max.toLocaleString('en')} events/s the same pipeline drained first)` : ''} for ${run.latency.length} minutes; a random shard killed every minute (SIGKILL, alternating a kill from outside and a death in an open transaction) and restarted at once. ` +
      `Every process's resident memory sampled every ${run.sampleSeconds} s (a killed shard's replacement under the same name), the end-to-end latency of every event summed up per minute; p99 compares the last tenth of the minutes with the first, memory the last tenth of the samples with the first after the first minute; a shard that was killed and replaced is compared at the same age in each of its lives (${AGE_S} s after each restart), since its memory rises and falls with the time since its last kill. Then the verifier.`,
    figures,
    series,
  }
}
