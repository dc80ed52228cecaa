import { describe, expect, it } from 'vitest'
import { chainBack, snapshotsToKeep, type ChainLink } from './snapshot-chain.js'

const full = (id: string): ChainLink => ({ snapshotId: id, kind: 'full', parent: null })
const partial = (id: string, parent: string | null): ChainLink => ({ snapshotId: id, kind: 'partial', parent })
const byId = (...ms: ChainLink[]) => new Map(ms.map((m) => [m.snapshotId, m]))

describe('chainBack', () => {
  it.each([
    ['a full snapshot alone', full('f1'), byId(full('f1')), ['f1'], undefined],
    ['partials back to their base', partial('p2', 'p1'), byId(full('f1'), partial('p1', 'f1'), partial('p2', 'p1')), ['p2', 'p1', 'f1'], undefined],
    ['a missing parent', partial('p2', 'p1'), byId(full('f1'), partial('p2', 'p1')), ['p2'], 'parent p1 of p2 is missing'],
    ['a partial without parent', partial('p1', null), byId(partial('p1', null)), ['p1'], 'chain has no full base'],
    ['a loop of partials', partial('p1', 'p2'), byId(partial('p1', 'p2'), partial('p2', 'p1')), ['p1', 'p2'], 'the chain of p1 comes back to p1'],
  ])('follows %s', (_, head, all, links, problem) => {
    const c = chainBack(head, all)
    expect(c.links.map((m) => m.snapshotId)).toEqual(links)
    expect(c.problem).toBe(problem)
  })
})

describe('snapshotsToKeep', () => {
  const newestFirst = [partial('p3', 'p2'), partial('p2', 'f1'), full('f1'), full('f0')]
  it.each([
    [1, ['p3', 'p2', 'f1']],
    [2, ['p3', 'p2', 'f1']],
    [4, ['p3', 'p2', 'f1', 'f0']],
  ])('keeps the newest %i and the chains they need', (keep, kept) => {
    expect([...snapshotsToKeep(newestFirst, keep)].sort()).toEqual([...kept].sort())
  })
})
