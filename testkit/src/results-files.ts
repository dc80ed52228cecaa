/**
 * Results of the runs outside `npm run bench` (the cluster benchmark of
 * e2e/, the chaos run), written where the benchmark report reads them
 * (bench/results/<id>-<kind>.json): raw samples, summarized by the report.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { join } from 'node:path'

/** How the owner was taken out: its pod killed (Chaos Mesh, kubectl), or its processes frozen with SIGSTOP as if its node went silent. */
export type KillMethod = 'chaos-mesh' | 'kubectl' | 'freeze'

/** One kill of a shard's owner pod, the standby taking over. */
export interface ClusterKill {
  method: KillMethod
  /** The kill (kubectl: the delete command issued; Chaos Mesh: the PodChaos created; freeze: SIGSTOP sent) → the new owner's first committed transaction. */
  ttrMs: number
  /** The pod seen terminating in the API (polled every 20 ms) → that first commit; none when frozen. */
  fromDeletionSeenMs?: number
  /** The standby's detection of the death → that first commit. */
  detectToCommitMs: number
  reason: string | null
  /** Whether the standby of the pair took over (false: the recreated pod won the race, see e2e/src/standby-bench.ts). */
  byStandby?: boolean
  /** Changelog records the takeover replayed (the tail the standby had not yet applied). */
  tailRecords: number
  /** The takeover's phases as the new owner reports them (fence, replay, resume), to tell a slow one apart. */
  phasesMs?: Record<string, number>
}

export interface ClusterStandbySize {
  keys: number
  kills: ClusterKill[]
  verdict: { lost: number; duplicated: number; windows: number; sent: number }
  /** Takeovers the operator counted in the resource's status. */
  promotionsRecorded: number
  /** Resource applied → owner and standby both ready on the history. */
  pairReadyMs: number
}

export interface ClusterStandbyRun {
  id: string
  kind: 'cluster-standby'
  startedAt: string
  finishedAt: string
  commit: string
  host: { cores: number; cpu: string; memoryGiB: number; kernel: string; node: string }
  /** Events/s offered to the pipeline while its owners were killed. */
  rate: number
  sizes: ClusterStandbySize[]
}

/** A chaos run (`npm run chaos -- --json`): each kill and the verifier's verdict. */
export interface ChaosRun {
  id: string
  kind: 'chaos'
  startedAt: string
  commit: string
  host: ClusterStandbyRun['host']
  mode: 'local' | 'standby'
  shards: number
  rate: number
  seed: number
  exact: boolean
  kills: { shard: number; ttrMs: number; takeover?: { detectToCommitMs: number; reason: string } }[]
  verdict: { windows: number; validEvents: number; lost: number; duplicated: number; lateEvents: number }
}

type Kind = ClusterStandbyRun['kind'] | ChaosRun['kind']

export function describeHost(): ClusterStandbyRun['host'] {
  return { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version }
}

export function currentCommit(root: string): string {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

const resultsDir = (root: string) => join(root, 'bench', 'results')

/** Writes a run to bench/results/<id>-<kind>.json (a chaos run's kind says its mode); the file's path. */
export function saveResultsFile(root: string, run: ClusterStandbyRun | ChaosRun): string {
  mkdirSync(resultsDir(root), { recursive: true })
  const file = join(resultsDir(root), `${run.id}-${run.kind === 'chaos' ? `chaos-${run.mode}` : run.kind}.json`)
  writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`)
  return file
}

/** The newest run of a kind (`chaos-standby` for a chaos run of that mode), if any. */
export function latestResultsFile<T extends ClusterStandbyRun | ChaosRun>(root: string, kind: Kind | 'chaos-local' | 'chaos-standby'): T | undefined {
  let files: string[]
  try {
    files = readdirSync(resultsDir(root)).filter((f) => f.endsWith(`-${kind}.json`)).sort()
  } catch {
    return undefined
  }
  const newest = files.at(-1)
  return newest ? (JSON.parse(readFileSync(join(resultsDir(root), newest), 'utf8')) as T) : undefined
}
