/**
 * One reconcile pass as a list of named steps (reconcile/reconciler.ts),
 * and the decisions between them. Pure: observations in, outcomes out.
 */
import type { ShardLag, ShardStatus, TopicStatus } from '@ridepulse/contracts'
import type { ObservedPod, Recovery, ShardPlan } from './shards.js'
import type { StepFailure } from './status.js'

/** What a step says of the pass: go on, come back later (and why), or stop here. */
export type StepOutcome = { kind: 'continue' } | { kind: 'requeue'; afterMs: number; reason: string } | { kind: 'done'; reason: string }

export const proceed: StepOutcome = { kind: 'continue' }
export const requeue = (afterMs: number, reason: string): StepOutcome => ({ kind: 'requeue', afterMs, reason })
export const done = (reason: string): StepOutcome => ({ kind: 'done', reason })

/** The pass's answer to the work queue: the soonest requeue any step asked for, else the resync period. */
export function nextPass(outcomes: readonly StepOutcome[], resyncMs: number): { afterMs: number; reason: string } {
  let next = { afterMs: resyncMs, reason: 'periodic resync' }
  for (const o of outcomes) if (o.kind === 'requeue' && o.afterMs < next.afterMs) next = { afterMs: o.afterMs, reason: o.reason }
  return next
}

/**
 * What a condition's reason says of a failure: its cause, not the class that
 * carried it. The API server's reason (Forbidden, Conflict, NotFound, ...)
 * where an error has one, else a system or client error code (ECONNREFUSED,
 * ...), looked for through the error's causes; the class name last.
 */
function causeOf(err: unknown): string {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const { reason, code } = e as { reason?: unknown; code?: unknown }
    if (typeof reason === 'string' && reason) return /^\d+$/.test(reason) ? `HTTP${reason}` : reason
    if (typeof code === 'string' && code) return code
  }
  return err instanceof Error ? err.name : 'Error'
}

/** A condition's reason must be a word: letters, digits, '_', ',' and ':', starting with a letter. */
const asReason = (s: string): string => s.replace(/[^A-Za-z0-9_,:]/g, '').replace(/^[^A-Za-z]+/, '').replace(/[,:]+$/, '') || 'Error'

/** A failed step, named by what the caller must know: its cause and message. */
export const stepFailure = (step: string, err: unknown): StepFailure => ({
  step,
  reason: asReason(causeOf(err)),
  message: err instanceof Error ? err.message : String(err),
})

/**
 * The shards whose pods may be replaced by the current template now. A pod
 * on an older template that is not ready serves nothing: every such pod is
 * replaced at once, so that reverting a broken image reaches the shards it
 * broke. Ready pods go one at a time, and only when every shard is ready,
 * none is being deleted and none is rolling already.
 */
export function shardsToRoll(observed: readonly (ObservedPod | undefined)[], prev: readonly ShardStatus[], desiredHash: string): Set<number> {
  const broken = observed.flatMap((p, shard) => (p && !p.ready && p.deletionRequestedAtMs === undefined && p.specHash !== desiredHash ? [shard] : []))
  if (broken.length > 0) return new Set(broken)
  const allReady = observed.every((p) => p?.ready && p.deletionRequestedAtMs === undefined)
  const rolling = prev.some((s) => s.phase === 'Rolling')
  const next = allReady && !rolling ? observed.findIndex((p) => p?.specHash !== desiredHash) : -1
  return new Set(next >= 0 ? [next] : [])
}

/**
 * The global recovery strategy (the baseline): a failed shard restarts the
 * whole pipeline. Which shard failed first, and the other shards marked as
 * recovering from the restart; undefined when nothing restarts.
 */
export function planGlobalRestart(strategy: 'local' | 'global', plans: readonly ShardPlan[], nowMs: number): { failed: number; statuses: ShardStatus[] } | undefined {
  if (strategy !== 'global') return undefined
  const failed = plans.findIndex((p) => p.failed)
  if (failed < 0) return undefined
  const statuses = plans.map((p, shard) =>
    shard !== failed && !p.status.pendingRecovery
      ? { ...p.status, phase: 'Recovering' as const, pendingRecovery: { reason: 'PipelineRestart' as const, detectedAt: new Date(nowMs).toISOString() } }
      : p.status,
  )
  return { failed, statuses }
}

/** The soonest time any shard asked to be looked at again. */
export function shardsRequeue(plans: readonly ShardPlan[]): number | undefined {
  const requeues = plans.map((p) => p.requeueAfterMs).filter((x): x is number => x !== undefined)
  return requeues.length ? Math.min(...requeues) : undefined
}

/** When the broker's topics are checked: on a new generation, soon after a problem, else every `everyMs`. */
export function topicCheckDue(last: { generation: number; atMs: number; running: boolean; status?: TopicStatus[]; failure?: StepFailure } | undefined, generation: number, nowMs: number, everyMs: number): boolean {
  if (last?.running) return false
  const every = last?.failure || last?.status?.some((t) => !t.ready) ? 5_000 : everyMs
  return !last || last.generation !== generation || nowMs - last.atMs >= every
}

/** What the worker reports of its own last recovery, as its /status says it (already parsed), added to the operator's record. */
export function withWorkerReport(
  r: Recovery,
  report: { ok: true; lastRecovery: { snapshot: { snapshotId: string; kind: string; source?: 'local' | 'remote' } | null; replayedRecords: number; replayedBytes: number; timeToRecoverMs: number } | null | undefined } | { ok: false; error: string },
): Recovery {
  if (!report.ok) return { ...r, statusError: report.error }
  const w = report.lastRecovery
  if (!w) return { ...r, statusError: 'the worker reports no recovery' }
  return {
    ...r,
    ...(w.snapshot?.snapshotId ? { snapshotId: w.snapshot.snapshotId, snapshotKind: w.snapshot.kind, ...(w.snapshot.source ? { snapshotSource: w.snapshot.source } : {}) } : { snapshotKind: 'none' }),
    replayedRecords: w.replayedRecords,
    replayedBytes: w.replayedBytes,
    workerTimeToRecoverMs: w.timeToRecoverMs,
  }
}

/**
 * What a shard pod's worker says of itself, added to its planned status: its
 * lag, its role (owner or standby) and a standby's lag, read now (`view`) or
 * kept from the last read of the same pod; and the unit's takeovers, counted
 * across its pods: a worker reporting a takeover not yet recorded (by its
 * time) adds one, and the counts by slot that owners carry on from one to
 * the next (either pod reports them) bring in takeovers by owners gone
 * between two reads.
 */
export function withWorkerView(
  status: ShardStatus,
  prev: ShardStatus | undefined,
  samePod: boolean,
  view: { phase: string; shardLag?: ShardLag; standby?: { lagRecords: number; lagMs?: number } | null; promotions?: number; slotTakeovers?: number[] | null; lastRecovery?: { readyAt: number; promotion?: { reason: string }; timeToFirstCommitMs?: number | null } | null } | undefined,
  nowMs: number,
): ShardStatus {
  const { lag: _lag, role: _role, standbyLagRecords: _sbLag, standbyLagMs: _sbLagMs, promotions: _p, lastPromotion: _lp, ...base } = status
  const out: ShardStatus = { ...base, ...(prev?.promotions ? { promotions: prev.promotions } : {}), ...(prev?.lastPromotion ? { lastPromotion: prev.lastPromotion } : {}) }
  if (status.phase !== 'Running') return out
  if (!view) {
    if (!samePod || !prev) return out
    return { ...out, ...(prev.lag ? { lag: prev.lag } : {}), ...(prev.role ? { role: prev.role } : {}), ...(prev.standbyLagRecords !== undefined ? { standbyLagRecords: prev.standbyLagRecords } : {}), ...(prev.standbyLagMs !== undefined ? { standbyLagMs: prev.standbyLagMs } : {}) }
  }
  const standingBy = view.phase === 'standby'
  Object.assign(out, standingBy ? { role: 'standby', standbyLagRecords: view.standby?.lagRecords ?? 0, standbyLagMs: Math.round(view.standby?.lagMs ?? 0) } : { role: 'owner' })
  if (view.shardLag && !standingBy) out.lag = { ...view.shardLag, observedAt: new Date(nowMs).toISOString() }
  const r = view.lastRecovery
  if (r?.promotion) {
    const at = new Date(r.readyAt).toISOString()
    if (out.lastPromotion?.at !== at) {
      out.promotions = (out.promotions ?? 0) + 1
      out.lastPromotion = { at, reason: r.promotion.reason, ...(r.timeToFirstCommitMs != null ? { timeToFirstCommitMs: r.timeToFirstCommitMs } : {}) }
    }
  }
  const carried = view.slotTakeovers?.[status.slot ?? 0]
  if (carried !== undefined && carried > (out.promotions ?? 0)) out.promotions = carried
  return out
}
