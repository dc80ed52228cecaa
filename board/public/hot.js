// How hot a zone is, for the board and its tests. Plain JavaScript: the page
// loads it as a module, and so can the tests.

/**
 * @param {{requested:number, matched:number}} c counts of a zone in a minute
 * @param {{demand:number, unmet:number}} t thresholds: requested per minute; share of requests not matched (0..1)
 */
export function heat(c, t) {
  const unmetShare = c.requested > 0 ? Math.max(0, c.requested - c.matched) / c.requested : 0
  return {
    demandHot: c.requested >= t.demand,
    unmetHot: c.requested >= Math.max(3, t.demand / 4) && unmetShare >= t.unmet,
    unmetShare,
  }
}

/** Hottest first: by requests in the newest minute, then by unmet requests. */
export function rankZones(cells) {
  const newest = Math.max(0, ...cells.map((c) => c.windowStart))
  const byZone = new Map()
  for (const c of cells) {
    const z = byZone.get(c.zone) ?? { zone: c.zone, requested: 0, unmet: 0 }
    if (c.windowStart === newest) {
      z.requested = c.requested
      z.unmet = Math.max(0, c.requested - c.matched)
    }
    byZone.set(c.zone, z)
  }
  return [...byZone.values()].sort((a, b) => b.requested - a.requested || b.unmet - a.unmet || a.zone.localeCompare(b.zone)).map((z) => z.zone)
}
