/** The resource's status, computed from the shards' plans and the other steps' results. Pure. */
import type { Condition, ConditionStatus, ConditionType, PipelineStatus, ShardStatus, TopicStatus } from '@ridepulse/contracts'

export type { Condition, ConditionStatus, ConditionType, PipelineStatus, TopicStatus } from '@ridepulse/contracts'

/** A failed step: its class and message become a condition and a Warning event. */
export interface StepFailure {
  step: string
  reason: string
  message: string
}

export interface StatusInput {
  generation: number
  nowMs: number
  prev?: Partial<PipelineStatus>
  shards: ShardStatus[]
  /** With standby shards: the second pod of each shard. */
  standbys?: ShardStatus[]
  opa: { replicas: number; readyReplicas: number; deadLettersPerSecond?: number; observedAt?: string }
  topics?: TopicStatus[]
  failures: StepFailure[]
}

export function formatDuration(ms: number): string {
  return ms < 10_000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`
}

/** Keeps lastTransitionTime when a condition's status did not change. */
export function setCondition(prev: Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, nowMs: number): Condition {
  const old = prev?.find((c) => c.type === next.type)
  return { ...next, lastTransitionTime: old && old.status === next.status ? old.lastTransitionTime : new Date(nowMs).toISOString() }
}

export function computeStatus(i: StatusInput): PipelineStatus {
  const ready = i.shards.filter((s) => s.ready).length
  const recovering = i.shards.filter((s) => s.pendingRecovery)
  const rolling = i.shards.filter((s) => s.phase === 'Rolling' || s.phase === 'Creating' || s.phase === 'Starting')
  const badTopics = (i.topics ?? []).filter((t) => !t.ready)
  const conflicts = (i.topics ?? []).filter((t) => t.conflict)
  const stalled = i.shards.filter((s) => s.stalledSince)
  const recoveries = i.shards.reduce((n, s) => n + s.recoveries, 0)
  const last = i.shards
    .map((s) => s.lastRecovery)
    .filter((r) => r?.readyAt !== undefined)
    .sort((a, b) => Date.parse(b?.readyAt ?? '') - Date.parse(a?.readyAt ?? ''))[0]
  const allReady = ready === i.shards.length && i.opa.readyReplicas >= i.opa.replicas && badTopics.length === 0 && i.failures.length === 0
  const degradedMessage = [
    ...stalled.map((s) => `shard ${s.shard} not ready past its deadline (since ${s.stalledSince}${s.pendingRecovery ? `, recovering from ${s.pendingRecovery.reason}` : ''}): ${s.problem ?? 'its pod says nothing of why'}`),
    ...badTopics.map((t) => `topic ${t.name}: ${t.message ?? 'not ready'}`),
    ...i.failures.map((f) => `${f.step}: ${f.message}`),
  ].join('; ')
  const g = i.generation
  const c = (type: ConditionType, status: ConditionStatus, reason: string, message: string) =>
    setCondition(i.prev?.conditions, { type, status, reason, message, observedGeneration: g }, i.nowMs)
  const conditions = [
    c('Ready', allReady ? 'True' : 'False', allReady ? 'AllShardsReady' : 'NotReady',
      `${ready}/${i.shards.length} OpB shards ready, ${i.opa.readyReplicas}/${i.opa.replicas} OpA replicas ready`),
    c('Progressing', rolling.length > 0 ? 'True' : 'False', rolling.length > 0 ? 'ShardsUpdating' : 'Settled',
      rolling.length > 0 ? `shards ${rolling.map((s) => s.shard).join(', ')} being created or rolled` : 'every shard runs the current spec'),
    c('Degraded', degradedMessage ? 'True' : 'False', i.failures[0]?.reason ?? (stalled.length > 0 ? 'ShardStalled' : conflicts.length > 0 ? 'TopicConflict' : badTopics.length > 0 ? 'TopicMismatch' : 'AsExpected'), degradedMessage || 'no failed step'),
    c('Recovering', recovering.length > 0 ? 'True' : 'False', recovering.length > 0 ? 'ShardRecovering' : 'NoRecovery',
      recovering.length > 0 ? recovering.map((s) => `shard ${s.shard} (${s.pendingRecovery?.reason}${s.problem ? `: ${s.problem}` : ''})`).join(', ') : 'no shard recovering'),
    c('TopicConflict', conflicts.length > 0 ? 'True' : 'False', conflicts.length > 0 ? 'TopicOwnedByAnother' : 'TopicsOwned',
      conflicts.length > 0
        ? `${conflicts.map((t) => `${t.name} belongs to ${t.conflict}`).join('; ')}: no pods until spec.topics names other topics`
        : 'every written topic belongs to this resource'),
  ]
  const phase: PipelineStatus['phase'] = stalled.length > 0 ? 'Degraded' : recovering.length > 0 ? 'Recovering' : degradedMessage ? 'Degraded' : allReady ? 'Running' : 'Progressing'
  return {
    observedGeneration: g,
    phase,
    shardsReady: `${ready}/${i.shards.length}`,
    readyShards: ready,
    recoveries,
    ...(last?.timeToRecoverMs !== undefined ? { lastTimeToRecover: formatDuration(last.timeToRecoverMs) } : {}),
    opa: i.opa,
    ...(i.topics ? { topics: i.topics } : {}),
    shards: i.shards,
    ...(i.standbys && i.standbys.length > 0 ? { standbys: i.standbys } : {}),
    conditions,
  }
}

/** The status of a resource whose spec is invalid: nothing is touched until it is fixed. */
export function invalidStatus(generation: number, nowMs: number, prev: Partial<PipelineStatus> | undefined, message: string): PipelineStatus {
  const c = (type: ConditionType, status: ConditionStatus, reason: string, msg: string) =>
    setCondition(prev?.conditions, { type, status, reason, message: msg, observedGeneration: generation }, nowMs)
  return {
    ...(prev as PipelineStatus | undefined),
    observedGeneration: generation,
    phase: 'Invalid',
    shardsReady: prev?.shardsReady ?? '0/0',
    readyShards: prev?.readyShards ?? 0,
    recoveries: prev?.recoveries ?? 0,
    conditions: [
      c('Ready', 'False', 'InvalidSpec', message),
      c('Progressing', 'False', 'InvalidSpec', message),
      c('Degraded', 'True', 'InvalidSpec', message),
      c('Recovering', 'False', 'NoRecovery', 'no shard recovering'),
      ...(prev?.conditions?.filter((x) => x.type === 'TopicConflict') ?? []),
    ],
  }
}

/**
 * The status of a resource whose reconciliation is paused: what was last
 * seen, phase Paused and a ReconciliationPaused condition; the next pass
 * after the pause recomputes everything, and the condition goes.
 */
export function pausedStatus(generation: number, nowMs: number, prev: Partial<PipelineStatus> | undefined): PipelineStatus {
  const paused = setCondition(prev?.conditions, { type: 'ReconciliationPaused', status: 'True', reason: 'PausedByAnnotation', message: 'the resource\'s ridepulse.io/pause-reconciliation annotation is "true": nothing is created, changed or recovered until it goes', observedGeneration: generation }, nowMs)
  return {
    ...(prev as PipelineStatus | undefined),
    phase: 'Paused',
    shardsReady: prev?.shardsReady ?? '0/0',
    readyShards: prev?.readyShards ?? 0,
    recoveries: prev?.recoveries ?? 0,
    observedGeneration: prev?.observedGeneration ?? 0,
    conditions: [...(prev?.conditions ?? []).filter((c) => c.type !== 'ReconciliationPaused'), paused],
  }
}

/** Deep equality of two JSON values, to skip a status write that would change nothing. */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))
}
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical)
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, canonical(x)]))
  }
  return v
}
