import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { emptyAgg, windowKey } from '../core/aggregate.js'
import { initialMeta } from '../core/records.js'
import { SnapshotStore, type SnapshotManifest } from './snapshots.js'
import { newStoreMeta, StateStore } from './state-store.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ridepulse-snap-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const agg = (requested: number, seq: number, final = false) => ({ ...emptyAgg(), requested, seq, final })

async function scenario() {
  const store = StateStore.open(join(dir, 'live'))
  const snaps = new SnapshotStore(dir, 0)
  store.apply(new Map([[windowKey('harbor', 0), agg(1, 1)], [windowKey('airport', 0), agg(2, 1)]]), newStoreMeta({ ...initialMeta(), inputOffset: 10 }, 5))
  const full = await snaps.takeFull(store, 'in', 1000)
  store.apply(new Map([[windowKey('harbor', 0), agg(3, 2, true)], [windowKey('airport', 0), null]]), newStoreMeta({ ...initialMeta(), inputOffset: 20 }, 9))
  const partial = await snaps.takePartial(store, [windowKey('harbor', 0), windowKey('airport', 0)], full, 'in', 2000)
  await store.close()
  return { snaps, full, partial }
}

const file = (m: SnapshotManifest) => join(dir, 'snapshots', m.snapshotId, m.kind === 'full' ? 'data.mdb' : 'delta.json')

describe('snapshots on the volume', () => {
  it('restores the newest chain: the full base copied, then the partial applied', async () => {
    const { snaps, full, partial } = await scenario()
    const plan = await snaps.plan()
    expect(plan.chain.map((m) => m.snapshotId)).toEqual([full.snapshotId, partial.snapshotId])
    const { store } = await snaps.restore(plan.chain, join(dir, 'restored'))
    expect(store.get(windowKey('harbor', 0))).toMatchObject({ requested: 3, final: true })
    expect(store.get(windowKey('airport', 0))).toBeUndefined()
    expect([...store.finalWindowsBefore(1)]).toEqual([windowKey('harbor', 0)])
    expect([...store.openWindowsBefore(1)]).toEqual([])
    expect(store.meta()).toMatchObject({ inputOffset: 20, lastChangelogOffset: 9 })
    await store.close()
  })

  it('falls back to the full snapshot when the partial has a flipped bit', async () => {
    const { snaps, full, partial } = await scenario()
    const bytes = await readFile(file(partial))
    bytes[10] = bytes[10]! ^ 0x01
    await writeFile(file(partial), bytes)
    const plan = await snaps.plan()
    expect(plan.chain.map((m) => m.snapshotId)).toEqual([full.snapshotId])
    expect(plan.rejected).toEqual([{ snapshotId: partial.snapshotId, reason: expect.stringMatching(/checksum mismatch/) }])
    const { store } = await snaps.restore(plan.chain, join(dir, 'restored'))
    expect(store.meta()).toMatchObject({ inputOffset: 10, lastChangelogOffset: 5 })
    await store.close()
  })

  it('starts empty when the full base is truncated, since every chain needs it', async () => {
    const { snaps, full } = await scenario()
    await truncate(file(full), 100)
    const plan = await snaps.plan()
    expect(plan.chain).toEqual([])
    expect(plan.rejected.map((r) => r.reason)).toEqual([expect.stringMatching(/size/), expect.stringMatching(/size/)])
  })

  it('passes over a snapshot of the earlier store layout, whose values it cannot read', async () => {
    const { snaps, full, partial } = await scenario()
    const manifest = join(dir, 'snapshots', full.snapshotId, 'manifest.json')
    await writeFile(manifest, JSON.stringify({ ...full, schemaVersion: 1 }))
    const plan = await snaps.plan()
    expect(plan.chain).toEqual([])
    expect(plan.rejected).toEqual([
      { snapshotId: partial.snapshotId, reason: expect.stringMatching(/schema version 1, this worker reads 2/) },
      { snapshotId: full.snapshotId, reason: expect.stringMatching(/schema version 1, this worker reads 2/) },
    ])
  })

  it('checksums and copies ahead of the plan, and still refuses a base damaged before it was staged', async () => {
    const { snaps, full, partial } = await scenario()
    const live = join(dir, 'live-restored')
    const staged = snaps.stage(live)
    expect(staged.baseId).toBe(full.snapshotId)
    const plan = await snaps.plan()
    expect(plan.chain.map((m) => m.snapshotId)).toEqual([full.snapshotId, partial.snapshotId])
    const { store } = await snaps.restore(plan.chain, live, staged)
    expect(store.get(windowKey('harbor', 0))).toMatchObject({ requested: 3, final: true })
    await store.close()

    const bytes = await readFile(file(full))
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01
    await writeFile(file(full), bytes)
    const again = snaps.stage(live)
    const second = await snaps.plan()
    expect(second.chain).toEqual([])
    expect(second.rejected.map((r) => r.reason)).toEqual([expect.stringMatching(/checksum mismatch/), expect.stringMatching(/checksum mismatch/)])
    const { store: empty } = await snaps.restore(second.chain, live, again)
    expect(empty.windowCount()).toBe(0)
    await empty.close()
  })

  it('reports a deleted snapshot directory and keeps the rest usable', async () => {
    const { snaps, full, partial } = await scenario()
    await rm(join(dir, 'snapshots', partial.snapshotId), { recursive: true })
    const plan = await snaps.plan()
    expect(plan.chain.map((m) => m.snapshotId)).toEqual([full.snapshotId])
  })

  it('prunes old snapshots but keeps the base the newest chains need', async () => {
    const { snaps, full, partial } = await scenario()
    const removed = await snaps.prune(1)
    expect(removed).toEqual([])
    const { manifests } = await snaps.list()
    expect(manifests.map((m) => m.snapshotId)).toEqual([partial.snapshotId, full.snapshotId])
  })

  it('takes a full snapshot while commits go on, and its manifest says where the copy stands', async () => {
    // Batch j writes the window `b<j>` and moves the changelog position to j:
    // a copy holds b0 … b<n> for the n its manifest names, and nothing later.
    const store = StateStore.open(join(dir, 'live'))
    const snaps = new SnapshotStore(dir, 0)
    const bulk = new Map<string, ReturnType<typeof agg>>()
    for (let i = 0; i < 50_000; i++) bulk.set(windowKey(`zone-${i}`, 0), agg(1, 1))
    store.apply(bulk, newStoreMeta({ ...initialMeta(), inputOffset: 0 }, -1))
    const batch = (j: number) => store.apply(new Map([[windowKey(`b${j}`, 0), agg(j, 1)]]), newStoreMeta({ ...initialMeta(), inputOffset: j + 1 }, j))
    batch(0)
    const taking = snaps.takeFull(store, 'in', 1000)
    // Committed after the call and before the copy begins (it begins after the snapshot's directory is made).
    batch(1)
    for (let j = 2, done = false; !done; j++) {
      batch(j)
      done = await Promise.race([taking.then(() => true), new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))])
    }
    const m = await taking
    await store.close()
    const at = m.lastChangelogOffset
    expect(at).toBeGreaterThanOrEqual(1)
    expect(m.inputOffsets).toEqual({ 'in:0': at + 1 })
    expect(m.keys).toBe(50_000 + at + 1)
    const { store: restored } = await snaps.restore([m], join(dir, 'restored'))
    expect(restored.meta()).toMatchObject({ inputOffset: at + 1, lastChangelogOffset: at })
    expect(restored.windowCount()).toBe(m.keys)
    expect(restored.get(windowKey(`b${at}`, 0))).toMatchObject({ requested: at })
    expect(restored.get(windowKey(`b${at + 1}`, 0))).toBeUndefined()
    await restored.close()
  })
})
