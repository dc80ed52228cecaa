import type { ChaosRun, ClusterStandbyRun } from '@ridepulse/testkit'
import type { Experiment, Figure } from './results.js'
import { summarize } from './stats.js'

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
