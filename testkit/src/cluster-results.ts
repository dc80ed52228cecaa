/**
 * Results of the cluster benchmarks (e2e/), written where the benchmark
 * report reads them (bench/results/<id>-cluster-standby.json): raw samples,
 * summarized by the report.
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
  /** Changelog records the takeover replayed (the tail the standby had not yet applied). */
  tailRecords: number
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

const SUFFIX = '-cluster-standby.json'

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

export function saveClusterStandbyRun(root: string, run: ClusterStandbyRun): string {
  const dir = join(root, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${run.id}${SUFFIX}`)
  writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`)
  return file
}

/** The newest cluster standby run, if any. */
export function latestClusterStandbyRun(root: string): ClusterStandbyRun | undefined {
  let files: string[]
  try {
    files = readdirSync(join(root, 'bench', 'results')).filter((f) => f.endsWith(SUFFIX)).sort()
  } catch {
    return undefined
  }
  const newest = files.at(-1)
  return newest ? (JSON.parse(readFileSync(join(root, 'bench', 'results', newest), 'utf8')) as ClusterStandbyRun) : undefined
}
