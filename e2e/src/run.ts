#!/usr/bin/env node
/**
 * The end-to-end scenario as a measurement, against the cluster of $KUBECONFIG
 * (prepared as docs/e2e.md says: images loaded, a broker the pods reach,
 * Chaos Mesh for its round):
 *
 *   npm run e2e -- --kills 10 [--rounds chaos-mesh,kubectl --rate 300 --seed 1 --keep]
 *
 * --kills is per round. Prints every kill, then the time to recover (old pod
 * gone from the API → the replacement's first committed transaction) per
 * round and over all kills. Last line:
 * kills=N lost=L duplicated=D ttr_p50_ms=X ttr_p95_ms=Y. Every kill and the
 * verdict go to bench/results/<id>-cluster-recovery.json, which the benchmark
 * report renders. Exits non-zero if any check of the test failed.
 */
import { parseArgs } from 'node:util'
import { currentCommit, describeHost, saveResultsFile, type ClusterRecoveryRun } from '@ridepulse/testkit'
import { SHARDS } from './constants.js'
import { repoRoot } from './kube.js'
import { optionsFromEnv, percentile, runE2e, type E2eReport } from './scenario.js'

const { values: args } = parseArgs({
  options: {
    kills: { type: 'string' },
    rounds: { type: 'string' },
    rate: { type: 'string' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
})
const log = (s: string) => process.stderr.write(`${new Date().toISOString()} ${s}\n`)
const env = {
  ...process.env,
  ...(args.kills !== undefined ? { E2E_KILLS: args.kills } : {}),
  ...(args.rounds !== undefined ? { E2E_ROUNDS: args.rounds } : {}),
  ...(args.rate !== undefined ? { E2E_RATE: args.rate } : {}),
  ...(args.seed !== undefined ? { E2E_SEED: args.seed } : {}),
  ...(args.keep ? { E2E_KEEP: '1' } : {}),
}

/** Every check of the test, as messages; empty when all hold. */
function failures(r: E2eReport): string[] {
  const out: string[] = []
  for (const [i, k] of r.kills.entries()) {
    const at = `kill ${i + 1} (${k.round}, ${k.pod})`
    if (!k.sameClaim) out.push(`${at}: replacement not on the shard's original claim (${k.claim})`)
    if (!k.worker.snapshotId) out.push(`${at}: the worker did not restore from a local snapshot`)
    if (k.recorded.timeToRecoverMs === undefined) out.push(`${at}: no time to recover in the resource's status`)
    if (!k.recorded.snapshotId) out.push(`${at}: the resource's status names no snapshot (${k.recorded.statusError ?? 'no error'})`)
    if (k.othersDisturbed.length > 0) out.push(`${at}: other pods disturbed: ${k.othersDisturbed.join(', ')}`)
  }
  if (r.opaDisturbed.length > 0) out.push(`OpA disturbed: ${r.opaDisturbed.join(', ')}`)
  if (!r.verdict.ok) out.push(`verifier: lost ${r.verdict.lost}, duplicated ${r.verdict.duplicated}: ${r.verdict.problems.join('; ')}`)
  return out
}

/** The run as a results file of the benchmark report. */
function resultsOf(r: E2eReport, o: { rate: number }, startedAt: Date, problems: string[]): ClusterRecoveryRun {
  return {
    id: startedAt.toISOString().replace(/[:.]/g, '-'),
    kind: 'cluster-recovery',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    commit: currentCommit(repoRoot),
    host: describeHost(),
    shards: SHARDS,
    rate: o.rate,
    kills: r.kills.map((k) => ({
      round: k.round, shard: k.shard, ttrMs: k.ttrMs, startedMs: k.startedMs, readyMs: k.readyMs, recordedMs: k.recorded.timeToRecoverMs ?? null,
      kubeletNudged: k.kubeletNudged, snapshotKind: k.worker.snapshotKind, replayedRecords: k.worker.replayedRecords,
    })),
    verdict: { lost: r.verdict.lost, duplicated: r.verdict.duplicated, windows: r.verdict.windows, sent: r.load.sent },
    failedChecks: problems,
  }
}

let code = 1
try {
  const startedAt = new Date()
  const options = optionsFromEnv(env, log)
  const report = await runE2e(options)
  const line = (label: string, v: number[]) =>
    log(`${label}: n=${v.length} p50=${percentile(v, 0.5)} ms p95=${percentile(v, 0.95)} ms min=${Math.min(...v)} ms max=${Math.max(...v)} ms`)
  for (const round of new Set(report.kills.map((k) => k.round))) {
    const ks = report.kills.filter((k) => k.round === round)
    line(`${round}: pod gone -> first commit`, ks.map((k) => k.ttrMs))
    line(`${round}: pod gone -> worker process started`, ks.map((k) => k.startedMs))
    line(`${round}: pod gone -> worker ready`, ks.map((k) => k.readyMs))
    line(`${round}: operator's time to recover (status)`, ks.map((k) => k.recorded.timeToRecoverMs ?? 0))
    log(`${round}: kubelet nudged by the operator in ${ks.filter((k) => k.kubeletNudged).length} of ${ks.length} kills`)
  }
  log(`durations: ${Object.entries(report.durationsMs).map(([k, v]) => `${k} ${v} ms`).join(', ')}; events sent ${report.load.sent}`)
  const problems = failures(report)
  for (const p of problems) log(`FAILED: ${p}`)
  log(`results in ${saveResultsFile(repoRoot, resultsOf(report, options, startedAt, problems))}`)
  const ttr = report.kills.map((k) => k.ttrMs)
  process.stdout.write(`kills=${ttr.length} lost=${report.verdict.lost} duplicated=${report.verdict.duplicated} ttr_p50_ms=${percentile(ttr, 0.5)} ttr_p95_ms=${percentile(ttr, 0.95)}\n`)
  code = problems.length === 0 ? 0 : 1
} catch (err) {
  log(`e2e failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
}
process.exit(code)
