/**
 * Results of the runs outside `npm run bench` (the cluster benchmarks of
 * e2e/, the chaos run), written where the benchmark report reads them
 * (bench/results/<id>-<kind>.json): raw samples, summarized by the report.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { join } from 'node:path'

/** How the owner was taken out: its pod killed (Chaos Mesh, kubectl), or its processes frozen with SIGSTOP as if its node went silent. */
export type KillMethod = 'chaos-mesh' | 'kubectl' | 'freeze'

/** The machine a run was taken on. */
export interface Host {
  cores: number
  cpu: string
  memoryGiB: number
  kernel: string
  node: string
}

/** What every results file starts with. */
interface RunHeader<K extends string> {
  id: string
  kind: K
  startedAt: string
  commit: string
  host: Host
}

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

export interface ClusterStandbyRun extends RunHeader<'cluster-standby'> {
  finishedAt: string
  /** Events/s offered to the pipeline while its owners were killed. */
  rate: number
  sizes: ClusterStandbySize[]
}

/** One kill of a shard's pod in `e2e/local.sh bench`: local recovery on the shard's own volume. */
export interface ClusterRecoveryKill {
  round: 'chaos-mesh' | 'kubectl'
  shard: number
  /** Old pod gone from the API → the replacement's first committed transaction. */
  ttrMs: number
  /** Old pod gone → the replacement's worker process started. */
  startedMs: number
  /** Old pod gone → the replacement's worker ready. */
  readyMs: number
  /** What the operator recorded in the resource's status as the time to recover. */
  recordedMs: number | null
  kubeletNudged: boolean
  snapshotKind: string | null
  replayedRecords: number
}

/** A run of `e2e/local.sh bench`: local recovery of OpB pods on Kubernetes, each kill and the verdict. */
export interface ClusterRecoveryRun extends RunHeader<'cluster-recovery'> {
  finishedAt: string
  shards: number
  rate: number
  kills: ClusterRecoveryKill[]
  verdict: { lost: number; duplicated: number; windows: number; sent: number }
  /** Checks of the scenario that failed (empty when all held); the figures are kept either way. */
  failedChecks: string[]
}

/** A run of `npm run bench:operator`: the operator on a real API server, every sample. */
export interface OperatorRun extends RunHeader<'operator'> {
  /** Pod deleted with grace period 0 → its replacement created, ms. */
  recreateMs: number[]
  /** Reconcile passes of one resource per shard count: the creating pass and a settled one, ms. */
  reconcile: { shards: number; creatingMs: number[]; settledMs: number[] }[]
}

/** A soak (`npm run bench:soak`): the pipeline under steady load for a long time, one shard killed every minute. */
export interface SoakRun extends RunHeader<'soak'> {
  finishedAt: string
  shards: number
  /** Events/s offered, and the maximum it is half of (measured first, unless given). */
  rate: number
  max: number | null
  /** Resident memory of each process, MB, sampled every `sampleSeconds` (a killed shard's replacement under the same name). */
  sampleSeconds: number
  memory: { atS: number; rssMB: Record<string, number> }[]
  /** End-to-end latency of every event, summed up minute by minute. */
  latency: { minute: number; n: number; p50: number; p99: number; max: number }[]
  kills: { atS: number; shard: number; kind: string; firstCommitMs: number; caughtUpMs: number }[]
  verdict: { lost: number; duplicated: number; windows: number; sent: number }
}

/** A chaos run (`npm run chaos -- --json`): each kill and the verifier's verdict. */
export interface ChaosRun extends RunHeader<'chaos'> {
  mode: 'local' | 'standby'
  shards: number
  rate: number
  seed: number
  exact: boolean
  kills: { shard: number; ttrMs: number; takeover?: { detectToCommitMs: number; reason: string } }[]
  verdict: { windows: number; validEvents: number; lost: number; duplicated: number; lateEvents: number }
}

type AnyRun = ClusterStandbyRun | ClusterRecoveryRun | ChaosRun | OperatorRun | SoakRun
type Kind = AnyRun['kind']

export function describeHost(): Host {
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
export function saveResultsFile(root: string, run: AnyRun): string {
  mkdirSync(resultsDir(root), { recursive: true })
  const file = join(resultsDir(root), `${run.id}-${run.kind === 'chaos' ? `chaos-${run.mode}` : run.kind}.json`)
  writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`)
  return file
}

/** The newest run of a kind (`chaos-standby` for a chaos run of that mode), if any. */
export function latestResultsFile<T extends AnyRun>(root: string, kind: Kind | 'chaos-local' | 'chaos-standby'): T | undefined {
  let files: string[]
  try {
    files = readdirSync(resultsDir(root)).filter((f) => f.endsWith(`-${kind}.json`)).sort()
  } catch {
    return undefined
  }
  const newest = files.at(-1)
  return newest ? (JSON.parse(readFileSync(join(resultsDir(root), newest), 'utf8')) as T) : undefined
}
