import type { RideEvent, RideType } from '@ridepulse/contracts'

/** Changelog and state value schema version. */
export const STATE_VERSION = 1

export interface Counts {
  requested: number
  matched: number
  completed: number
  cancelled: number
}

/** The state of one zone and window: absolute counts, so the latest record is the whole truth. */
export interface WindowAgg extends Counts {
  /** Grows with every change of this key; replay skips anything not newer. */
  seq: number
  /** Output revision: grows with every output record of this window. */
  rev: number
  final: boolean
}

export const emptyAgg = (): WindowAgg => ({ requested: 0, matched: 0, completed: 0, cancelled: 0, seq: 0, rev: 0, final: false })

export function addEvent(agg: WindowAgg, type: RideType): WindowAgg {
  return { ...agg, [type]: agg[type] + 1, seq: agg.seq + 1 }
}

export function windowKey(zone: string, windowStartMs: number): string {
  return `${zone}|${windowStartMs}`
}

export function parseWindowKey(key: string): { zone: string; windowStart: number } | undefined {
  const i = key.lastIndexOf('|')
  if (i <= 0) return undefined
  const windowStart = Number(key.slice(i + 1))
  return Number.isSafeInteger(windowStart) ? { zone: key.slice(0, i), windowStart } : undefined
}

export const countsOf = (a: Counts): Counts => ({ requested: a.requested, matched: a.matched, completed: a.completed, cancelled: a.cancelled })

export function countEvents(events: Iterable<Pick<RideEvent, 'type'>>): Counts {
  const c = { requested: 0, matched: 0, completed: 0, cancelled: 0 }
  for (const e of events) c[e.type]++
  return c
}

export const sameCounts = (a: Counts, b: Counts): boolean =>
  a.requested === b.requested && a.matched === b.matched && a.completed === b.completed && a.cancelled === b.cancelled
