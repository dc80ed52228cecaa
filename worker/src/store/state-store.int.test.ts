import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { emptyAgg, windowKey } from '../core/aggregate.js'
import { initialMeta } from '../core/records.js'
import { newStoreMeta, StateStore, VolumeFullError } from './state-store.js'

let dir: string
let store: StateStore
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ridepulse-store-'))
  store = StateStore.open(dir)
})
afterEach(async () => {
  await store.close()
  await rm(dir, { recursive: true, force: true })
})

const meta = newStoreMeta(initialMeta(), -1)
const k = windowKey('harbor', 60_000)
const agg = (requested: number, seq: number, final = false) => ({ ...emptyAgg(), requested, seq, final })
const indexes = () => ({ open: [...store.openWindowsBefore(Number.MAX_SAFE_INTEGER)], final: [...store.finalWindowsBefore(Number.MAX_SAFE_INTEGER)] })

describe('state store indexes', () => {
  it('follow a window from open through updates to final and to its tombstone', () => {
    store.apply(new Map([[k, agg(1, 1)]]), meta)
    store.apply(new Map([[k, agg(2, 2)]]), meta)
    expect(indexes()).toEqual({ open: [k], final: [] })
    store.apply(new Map([[k, agg(2, 3, true)]]), meta)
    expect(indexes()).toEqual({ open: [], final: [k] })
    store.apply(new Map([[k, null]]), meta)
    expect(indexes()).toEqual({ open: [], final: [] })
    expect(store.get(k)).toBeUndefined()
  })

  it('replay skips records not newer than the store and keeps the indexes right', () => {
    store.apply(new Map([[k, agg(5, 5)]]), meta)
    expect(store.replay(new Map([[k, agg(3, 3)]]), undefined)).toBe(0)
    expect(store.get(k)?.requested).toBe(5)
    expect(store.replay(new Map([[k, agg(6, 6, true)], [windowKey('airport', 0), agg(1, 1)]]), undefined)).toBe(2)
    expect(indexes()).toEqual({ open: [windowKey('airport', 0)], final: [k] })
  })

  it('a replay into an empty store follows a key across batches in log order: final, tombstone, and the metadata last', async () => {
    const other = windowKey('airport', 0)
    const docks = windowKey('docks', 0)
    const replay = store.beginReplay()
    await replay.apply(new Map([[k, agg(1, 1)], [other, agg(1, 1)]]))
    await replay.apply(new Map([[k, agg(4, 4, true)], [other, null], [docks, agg(2, 2)]]))
    await replay.apply(new Map([[docks, agg(3, 3)], ['not a window', agg(1, 1)]]))
    expect(await replay.finish(newStoreMeta({ ...initialMeta(), seq: 9 }, 41))).toBe(6)
    expect(store.get(k)).toEqual(agg(4, 4, true))
    expect(store.get(other)).toBeUndefined()
    expect(store.get(docks)).toEqual(agg(3, 3))
    expect(indexes()).toEqual({ open: [docks], final: [k] })
    expect(store.meta()).toMatchObject({ seq: 9, lastChangelogOffset: 41 })
    expect(store.windowCount()).toBe(2)
  })

  it('a replay into an empty store holds every record of a large changelog once it has finished', async () => {
    const replay = store.beginReplay()
    const n = 30_000
    for (let from = 0; from < n; from += 7_000) {
      const batch = new Map<string, ReturnType<typeof agg> | null>()
      for (let i = from; i < Math.min(n, from + 7_000); i++) batch.set(windowKey(`z${i % 50}`, Math.floor(i / 50) * 60_000), agg(i, i + 1, i % 3 === 0))
      await replay.apply(batch)
    }
    expect(await replay.finish(newStoreMeta({ ...initialMeta(), seq: n }, n - 1))).toBe(n)
    expect(store.windowCount()).toBe(n)
    expect(store.get(windowKey('z7', 599 * 60_000))).toEqual(agg(29_957, 29_958, false))
    expect(indexes().final.length).toBe(n / 3)
    expect(store.meta()).toMatchObject({ seq: n, lastChangelogOffset: n - 1 })
  })

  it('a replay onto a restored store compares every key with what it holds', async () => {
    store.apply(new Map([[k, agg(5, 5)]]), meta)
    const replay = store.beginReplay()
    await replay.apply(new Map([[k, agg(3, 3)]]))
    expect(store.get(k)?.requested).toBe(5)
    await replay.apply(new Map([[k, agg(6, 6)]]))
    expect(await replay.finish(undefined)).toBe(1)
    expect(store.get(k)?.requested).toBe(6)
    expect(store.meta()).toEqual(meta)
  })

  it('finds open windows by start, below a bound only', () => {
    store.apply(new Map([[windowKey('a', 0), agg(1, 1)], [windowKey('b', 60_000), agg(1, 1)], [windowKey('c', 120_000), agg(1, 1)]]), meta)
    expect([...store.openWindowsBefore(120_000)]).toEqual([windowKey('a', 0), windowKey('b', 60_000)])
  })
})

describe('state store on a full volume', () => {
  // A file system of its own needs root, as the tests run in CI.
  it.skipIf(process.getuid?.() !== 0)('refuses a write before LMDB meets the full disk, keeps what it holds, and writes again once space returns', async () => {
    const mnt = mkdtempSync(join(tmpdir(), 'ridepulse-small-store-'))
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt])
    const small = StateStore.open(join(mnt, 'live'))
    try {
      small.apply(new Map([[k, agg(1, 1)]]), meta)
      // Leaves less than the room a write must find, though more than LMDB would need.
      const filler = join(mnt, 'filler')
      const fd = openSync(filler, 'w')
      const chunk = Buffer.alloc(64 * 1024, 0x61)
      while (statfsSync(mnt).bavail * statfsSync(mnt).bsize > (2 << 20)) writeSync(fd, chunk)
      closeSync(fd)

      const write = () => small.apply(new Map([[k, agg(2, 2)], [windowKey('airport', 0), agg(1, 1)]]), newStoreMeta({ ...initialMeta(), inputOffset: 7 }, 3))
      expect(write).toThrow(VolumeFullError)
      expect(write).toThrow(/no space left on the data volume for the state: \d+ bytes free at .*live, a write may need \d+; nothing was written/)
      try {
        write()
      } catch (err) {
        expect((err as VolumeFullError).code).toBe('ENOSPC')
      }
      expect(small.get(k)).toEqual(agg(1, 1))
      expect(small.meta()).toEqual(meta)
      await expect(small.beginReplay().apply(new Map([[k, agg(3, 3)]]))).rejects.toThrow(VolumeFullError)

      rmSync(filler)
      write()
      expect(small.get(k)).toEqual(agg(2, 2))
      expect(small.meta()?.inputOffset).toBe(7)
    } finally {
      await small.close()
      execFileSync('umount', [mnt])
      rmSync(mnt, { recursive: true, force: true })
    }
  })
})
