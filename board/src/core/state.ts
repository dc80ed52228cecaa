/**
 * What the board knows: the newest revision of every zone and minute read
 * from `orders.output`, and the health of each OpB shard. Pure: records and
 * the clock come in, views go out.
 */
import { opbStatusSchema, RECOVERY_STEPS, type OutputRecord, type ShardLag, type ShardStatus } from '@ridepulse/contracts'

export type Cell = Pick<OutputRecord, 'zone' | 'windowStart' | 'windowEnd' | 'requested' | 'matched' | 'completed' | 'cancelled' | 'rev' | 'final' | 'emittedAt'>

export class BoardState {
  readonly #cells = new Map<string, Cell>()
  readonly #changed = new Set<string>()
  #newestStart = 0

  /** `historyWindows` windows back from the newest are kept. */
  constructor(private readonly historyWindows: number) {}

  /** Takes a record if it is newer than what the board has; a lower or equal rev changes nothing. */
  apply(o: Cell): boolean {
    const key = `${o.zone}|${o.windowStart}`
    const have = this.#cells.get(key)
    if (have && (have.rev >= o.rev || have.final)) return false
    const size = o.windowEnd - o.windowStart
    if (o.windowStart < this.#newestStart - this.historyWindows * size) return false
    this.#cells.set(key, { zone: o.zone, windowStart: o.windowStart, windowEnd: o.windowEnd, requested: o.requested, matched: o.matched, completed: o.completed, cancelled: o.cancelled, rev: o.rev, final: o.final, emittedAt: o.emittedAt })
    this.#changed.add(key)
    if (o.windowStart > this.#newestStart) {
      this.#newestStart = o.windowStart
      this.#prune(size)
    }
    return true
  }

  #prune(size: number): void {
    const oldest = this.#newestStart - this.historyWindows * size
    for (const [k, c] of this.#cells) if (c.windowStart < oldest) this.#cells.delete(k)
  }

  get size(): number {
    return this.#cells.size
  }

  cells(): Cell[] {
    return [...this.#cells.values()]
  }

  /** The cells changed since the last call (those still kept). */
  takeChanges(): Cell[] {
    const out: Cell[] = []
    for (const k of this.#changed) {
      const c = this.#cells.get(k)
      if (c) out.push(c)
    }
    this.#changed.clear()
    return out
  }
}

/** A shard as the board shows it. */
export interface ShardHealth {
  shard: number
  state: 'running' | 'recovering' | 'down' | 'unknown'
  /** Recovery step, while recovering: fencing, loading-snapshot, replaying. */
  phase?: string
  /** 0..1 through the recovery steps. */
  progress?: number
  since: number
  lastRecovery?: { readyAt: number; timeToRecoverMs: number; snapshot: string | null; replayedRecords: number }
  /** While running: how far behind it is (see ShardLag). */
  lag?: ShardLag
  /** With standby shards (on Kubernetes): which pod owns the shard, which stands by, and how far behind the standby is. */
  pair?: { owner: string | null; standby: string | null; standbyReady: boolean; standbyLagRecords: number | null; standbyLagMs: number | null; promotions: number }
  error?: string
}


/** What a worker's /status (or its absence) says about a shard; `prev` keeps `since` while the state holds. */
export function shardHealth(shard: number, status: unknown, error: string | undefined, nowMs: number, prev?: ShardHealth): ShardHealth {
  let next: Omit<ShardHealth, 'since'>
  const parsed = error === undefined ? opbStatusSchema.safeParse(status) : undefined
  if (!parsed?.success) {
    // No answer: the process is gone (a kill) or not listening yet; or an answer the board cannot read.
    const why = error ?? `unreadable status: ${parsed?.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`
    next = { shard, state: prev && prev.state !== 'unknown' ? (prev.state === 'running' ? 'down' : prev.state) : 'unknown', phase: 'no answer', progress: 0, error: why, ...(prev?.lastRecovery ? { lastRecovery: prev.lastRecovery } : {}) }
  } else {
    const { phase, lastRecovery: r, shardLag } = parsed.data
    const lastRecovery = r ? { readyAt: r.readyAt, timeToRecoverMs: r.timeToRecoverMs, snapshot: r.snapshot?.snapshotId ?? null, replayedRecords: r.replayedRecords } : undefined
    const step = RECOVERY_STEPS.indexOf(phase)
    next = phase === 'running'
      ? { shard, state: 'running', ...(lastRecovery ? { lastRecovery } : {}), ...(shardLag ? { lag: shardLag } : {}) }
      : { shard, state: step >= 0 ? 'recovering' : 'down', phase, progress: step >= 0 ? step / (RECOVERY_STEPS.length - 1) : 0, ...(lastRecovery ? { lastRecovery } : {}) }
  }
  // A shard that was down and answers again, but is not running yet, is recovering.
  if (next.state === 'down' && prev?.state === 'recovering' && error === undefined) next = { ...next, state: 'recovering' }
  return { ...next, since: prev && prev.state === next.state ? prev.since : nowMs }
}

/** A shard as the operator records it in the StatefulOperator's status. */
export type ResourceShard = Pick<ShardStatus, 'shard' | 'phase' | 'ready' | 'pendingRecovery' | 'lastRecovery' | 'lag' | 'pod' | 'role' | 'standbyLagRecords' | 'standbyLagMs' | 'promotions'>

/**
 * The health of every shard from the resource's status (on Kubernetes, where
 * the operator watches the pods). With standby shards (`standbys`, the second
 * pod of each), a shard runs while either pod owns it and runs: the pair says
 * which, and how far behind the other stands.
 */
export function healthFromResource(shards: ResourceShard[], nowMs: number, prev: Map<number, ShardHealth>, standbys: ResourceShard[] = []): ShardHealth[] {
  return shards.map((first) => {
    const second = standbys.find((x) => x.shard === first.shard)
    const owner = [first, second].find((x) => x?.ready && x.role === 'owner')
    const s = second && owner ? owner : first
    const standing = second ? [first, second].find((x) => x !== owner && x?.role === 'standby') : undefined
    const pair = second
      ? { owner: owner?.pod ?? null, standby: standing?.pod ?? null, standbyReady: !!standing?.ready, standbyLagRecords: standing?.standbyLagRecords ?? null, standbyLagMs: standing?.standbyLagMs ?? null, promotions: (first.promotions ?? 0) + (second.promotions ?? 0) }
      : undefined
    const r = s.lastRecovery
    const lastRecovery = r?.readyAt ? { readyAt: Date.parse(r.readyAt), timeToRecoverMs: r.timeToRecoverMs ?? 0, snapshot: r.snapshotId ?? null, replayedRecords: r.replayedRecords ?? 0 } : undefined
    let h: Omit<ShardHealth, 'since'>
    if (second && !owner && standing?.ready) {
      // The owner is gone and its standby is taking over (the operator reads the roles with the lag).
      h = { shard: s.shard, state: 'recovering', phase: `standby ${standing.pod} taking over`, progress: 0.8 }
    } else if (s.pendingRecovery) {
      const recreated = s.pendingRecovery.podRecreatedAt !== undefined
      h = { shard: s.shard, state: 'recovering', phase: `${s.pendingRecovery.reason}, ${recreated ? 'pod recreated' : 'detected'}`, progress: recreated ? 0.5 : 0.1 }
    } else if (s.ready) {
      const lag = s.lag ? { records: s.lag.records, inputSeconds: s.lag.inputSeconds, watermarkSeconds: s.lag.watermarkSeconds, sinceCommitSeconds: s.lag.sinceCommitSeconds, lateEventsPerSecond: s.lag.lateEventsPerSecond } : undefined
      h = { shard: s.shard, state: 'running', ...(lag ? { lag } : {}) }
    } else {
      h = { shard: s.shard, state: s.phase === 'Terminating' ? 'down' : 'recovering', phase: s.phase.toLowerCase(), progress: 0.5 }
    }
    const p = prev.get(s.shard)
    return { ...h, ...(lastRecovery ? { lastRecovery } : {}), ...(pair ? { pair } : {}), since: p && p.state === h.state ? p.since : nowMs }
  })
}
