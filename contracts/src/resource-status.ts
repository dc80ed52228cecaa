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
  replayedRecords?: number
  replayedBytes?: number
  workerTimeToRecoverMs?: number
  statusError?: string
}

export type RecoveryReason = 'PodDeleted' | 'PodFailed' | 'NodeLost' | 'ContainerRestarted' | 'PodReplaced' | 'PipelineRestart'

export type ShardPhase = 'Creating' | 'Starting' | 'Running' | 'Recovering' | 'Rolling' | 'Terminating'

export interface ShardStatus {
  shard: number
  pod: string
  podUid?: string
  claim: string
  phase: ShardPhase
  ready: boolean
  restarts: number
  recoveries: number
  specHash?: string
  pendingRecovery?: Recovery
  lastRecovery?: Recovery
}

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded' | 'Recovering'
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
  name: string
  partitions: number
  ready: boolean
  message?: string
}

export interface PipelineStatus {
  observedGeneration: number
  phase: 'Invalid' | 'Running' | 'Recovering' | 'Degraded' | 'Progressing'
  shardsReady: string
  readyShards: number
  recoveries: number
  lastTimeToRecover?: string
  opa?: { replicas: number; readyReplicas: number }
  topics?: TopicStatus[]
  shards?: ShardStatus[]
  conditions: Condition[]
}

