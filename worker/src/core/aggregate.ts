import type { Counts, RideType } from '@ridepulse/contracts'

export { parseWindowKey, windowKey, type Counts } from '@ridepulse/contracts'

/** Changelog and state value schema version. */
export const STATE_VERSION = 1

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
