/**
 * Which snapshots a restore needs and which the volume must keep: a partial
 * snapshot applies on top of its parent, back to a full base. Pure: the
 * manifests come in, the store reads and verifies the files.
 */

export interface ChainLink {
  snapshotId: string
  kind: 'full' | 'partial'
  /** The snapshot a partial applies on top of; null for a full one. */
  parent: string | null
}

/**
 * The chain a snapshot needs, from itself back to its full base, in that
 * order; with the reason it cannot be restored when a link is missing.
 */
export function chainBack<T extends ChainLink>(head: T, byId: ReadonlyMap<string, T>): { links: T[]; problem?: string } {
  const links: T[] = []
  const seen = new Set<string>()
  for (let m: T = head; ; ) {
    if (seen.has(m.snapshotId)) return { links, problem: `the chain of ${head.snapshotId} comes back to ${m.snapshotId}` }
    seen.add(m.snapshotId)
    links.push(m)
    if (m.kind === 'full') return { links }
    const parent = m.parent === null ? undefined : byId.get(m.parent)
    if (!parent) return { links, problem: m.parent === null ? 'chain has no full base' : `parent ${m.parent} of ${m.snapshotId} is missing` }
    m = parent
  }
}

/** The snapshots to keep: the newest `keep` (of `newestFirst`) and every snapshot their chains need. */
export function snapshotsToKeep(newestFirst: readonly ChainLink[], keep: number): Set<string> {
  const byId = new Map(newestFirst.map((m) => [m.snapshotId, m]))
  const needed = new Set<string>()
  for (const head of newestFirst.slice(0, keep)) for (const m of chainBack(head, byId).links) needed.add(m.snapshotId)
  return needed
}
