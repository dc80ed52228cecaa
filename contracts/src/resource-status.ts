import { DEFAULT_TOPIC_NAMES, WRITTEN_TOPIC_ROLES, type TopicNames, type TopicRole } from './topics.js'
import type { ShardLag } from './worker-status.js'

/**
 * The StatefulOperator's status as the operator writes it and the board
 * and the tests read it.
 */

export interface Recovery {
  reason: RecoveryReason
  detectedAt: string
  podRecreatedAt?: string
  readyAt?: string
  timeToRecoverMs?: number
  /** From the worker's own report (`/status`), when it could be read. */
  snapshotId?: string
  snapshotKind?: string
  /** Where the snapshot came from: the shard's volume, or the object store's copies (a lost volume). */
  snapshotSource?: 'local' | 'remote'
  replayedRecords?: number
  replayedBytes?: number
  workerTimeToRecoverMs?: number
  statusError?: string
  /** An eviction (a drain): counted in `plannedMoves`, not in `recoveries`. */
  planned?: boolean
}

export type RecoveryReason = 'PodDeleted' | 'PodFailed' | 'NodeLost' | 'ContainerRestarted' | 'PodReplaced' | 'PipelineRestart' | 'Evicted' | 'ClaimLost'

export type ShardPhase = 'Creating' | 'Starting' | 'Running' | 'Recovering' | 'Rolling' | 'Terminating'

export interface ShardStatus {
  shard: number
  pod: string
  podUid?: string
  claim: string
  phase: ShardPhase
  ready: boolean
  restarts: number
  /** Failures recovered from. */
  recoveries: number
  /** Evictions (drains) the shard moved through. */
  plannedMoves?: number
  specHash?: string
  /** What the pod says while the shard is not ready: a waiting reason, the last exit, unschedulable. */
  problem?: string
  /** When the shard passed its deadline (spec.recovery.deadlineSeconds) without being ready. */
  stalledSince?: string
  /** With standby shards: which pod of the pair this is (0: `<name>-opb-<shard>`, 1: `<name>-opb-<shard>-b`). */
  slot?: number
  /** What its worker says it is: the shard's owner, or its standby (read with the lag). */
  role?: 'owner' | 'standby'
  /** Takeovers by this pod as the standby. */
  promotions?: number
  lastPromotion?: { at: string; reason: string; timeToFirstCommitMs?: number }
  /** A standby's distance behind the changelog, records. */
  standbyLagRecords?: number
  /** And in time: the age of the newest changelog record it applied while records wait (0 when caught up). */
  standbyLagMs?: number
  /** Since when the shard's claim has been lost (its volume gone, or on a node that is gone). */
  claimLostSince?: string
  /** How many times a lost claim of this shard was replaced with a new one. */
  claimReplacements?: number
  pendingRecovery?: Recovery
  lastRecovery?: Recovery
  /** From the running shard's `/status`, read every `LAG_POLL_MS` by the operator; `observedAt` says when. */
  lag?: ShardLag & { observedAt: string }
}

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded' | 'Recovering' | 'TopicConflict' | 'ReconciliationPaused'
export type ConditionStatus = 'True' | 'False' | 'Unknown'

export interface Condition {
  type: ConditionType
  status: ConditionStatus
  reason: string
  message: string
  lastTransitionTime: string
  observedGeneration: number
}

export interface TopicStatus {
  /** What the pipeline uses it for; with the name, the record that keeps a topic's name from moving. */
  role?: TopicRole
  name: string
  partitions: number
  ready: boolean
  message?: string
  /** Another resource owns this written topic (the cluster's owner records say which): the pipeline gets no pods. */
  conflict?: string
}

export interface PipelineStatus {
  observedGeneration: number
  phase: 'Invalid' | 'Running' | 'Recovering' | 'Degraded' | 'Progressing' | 'Paused'
  shardsReady: string
  readyShards: number
  recoveries: number
  lastTimeToRecover?: string
  /** `deadLettersPerSecond`: the ready instances' sum over the last minute, from their `/status`. */
  opa?: { replicas: number; readyReplicas: number; deadLettersPerSecond?: number; observedAt?: string }
  topics?: TopicStatus[]
  shards?: ShardStatus[]
  /** With `spec.opb.standby.enabled`: the second pod of each shard (slot 1). */
  standbys?: ShardStatus[]
  conditions: Condition[]
}

/**
 * The global default names a resource's status shows in use: a resource
 * created before the written topics' names were derived from namespace and
 * name runs on them, and keeps them (and its state) until its spec says
 * otherwise. Read from the names, not the roles, which an older CRD prunes.
 */
export function topicsInUse(status: Pick<PipelineStatus, 'topics'> | undefined): Partial<TopicNames> {
  const names = new Set((status?.topics ?? []).map((t) => t.name))
  const out: Partial<TopicNames> = {}
  for (const role of WRITTEN_TOPIC_ROLES) if (names.has(DEFAULT_TOPIC_NAMES[role])) out[role] = DEFAULT_TOPIC_NAMES[role]
  return out
}
