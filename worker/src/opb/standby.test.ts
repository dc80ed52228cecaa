import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { carriedTakeovers, FLAP_CHANGES, FLAP_WINDOW_MS, leaseFor } from './standby.js'
import { ActiveWatch, lastRank, Watchers } from './standby-watch.js'

describe('leaseFor (the flapping guard)', () => {
  const now = 10 * FLAP_WINDOW_MS
  it('gives a silent owner the configured lease while owners rarely change', () => {
    expect(leaseFor([], now, 1000)).toBe(1000)
    expect(leaseFor(Array.from({ length: FLAP_CHANGES - 1 }, (_, i) => now - i * 1000), now, 1000)).toBe(1000)
    // Many changes, but long ago.
    expect(leaseFor(Array.from({ length: 10 }, (_, i) => now - FLAP_WINDOW_MS - 1 - i), now, 1000)).toBe(1000)
  })

  it('quadruples it once the shard changed owners often within the window', () => {
    expect(leaseFor(Array.from({ length: FLAP_CHANGES }, (_, i) => now - i * 60_000), now, 1000)).toBe(4000)
  })
})

describe('lastRank (a watcher\'s place in line)', () => {
  it('reads the rank of the last whole beat line', () => {
    expect(lastRank('1700000000000 0\n1700000000100 2\n')).toBe(2)
    expect(lastRank('1700000000000 1\n17000000001')).toBe(1)
    expect(lastRank('1700000000000 3\n\n')).toBe(3)
  })

  it('ranks a beat without one (an owner of an older version) first, and has none without a whole line', () => {
    expect(lastRank('1700000000000\n')).toBe(0)
    expect(lastRank('17000')).toBeUndefined()
    expect(lastRank('1700000000000 x\n')).toBeUndefined()
  })
})

describe('Watchers and ActiveWatch (the owner\'s line of standbys)', () => {
  /** An owner's watch endpoint on loopback: a real server and real connections. */
  const owner = async (incarnation: string) => {
    const watchers = new Watchers()
    const server = createServer((_req, res) => watchers.serve(res, incarnation, 20))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as AddressInfo
    return { watchers, server, active: { host: '127.0.0.1', port, incarnation, since: 0 } }
  }
  const waitUntil = async (cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await sleep(10)
    expect(cond()).toBe(true)
  }

  it('ranks watches oldest first, moves a watcher up when one ahead leaves, and reports the rank at the owner\'s death', async () => {
    const { watchers, server, active } = await owner('inc-1')
    const first = new ActiveWatch(active, 1000, 1000)
    expect(await first.alive).toBe(true)
    const second = new ActiveWatch(active, 1000, 1000)
    const third = new ActiveWatch(active, 1000, 1000)
    expect(await second.alive).toBe(true)
    expect(await third.alive).toBe(true)
    await waitUntil(() => first.rank === 0 && second.rank === 1 && third.rank === 2)
    expect(watchers.count).toBe(3)

    first.close()
    await waitUntil(() => second.rank === 0 && third.rank === 1)

    server.closeAllConnections()
    server.close()
    const [a, b] = await Promise.all([second.dead, third.dead])
    expect(a).toMatchObject({ live: true, rank: 0, reason: 'connection-closed' })
    expect(b).toMatchObject({ live: true, rank: 1, reason: 'connection-closed' })
  })

  it('an owner told to stop ends every watch with a line that says so', async () => {
    const { watchers, server, active } = await owner('inc-1')
    const ws = [new ActiveWatch(active, 1000, 1000), new ActiveWatch(active, 1000, 1000)]
    expect(await Promise.all(ws.map((w) => w.alive))).toEqual([true, true])
    await waitUntil(() => ws[1]!.rank === 1)
    watchers.endAll()
    expect(await Promise.all(ws.map((w) => w.dead))).toMatchObject([{ live: true, rank: 0, reason: 'stopped' }, { live: true, rank: 1, reason: 'stopped' }])
    expect(watchers.count).toBe(0)
    server.close()
  })

  it('a watch answered by another incarnation is not the announced owner', async () => {
    const { server, active } = await owner('someone-else')
    const w = new ActiveWatch({ ...active, incarnation: 'inc-1' }, 1000, 1000)
    expect(await w.alive).toBe(false)
    expect(await w.dead).toMatchObject({ live: false, reason: 'not-active' })
    server.closeAllConnections()
    server.close()
  })
})

describe('carriedTakeovers (the shard\'s takeovers by slot, owner to owner)', () => {
  const a = (takeovers?: number[]) => ({ host: 'h', port: 1, incarnation: 'i', since: 0, ...(takeovers ? { takeovers } : {}) })
  it('carries the predecessor\'s counts on, one more for a standby\'s own slot', () => {
    expect(carriedTakeovers(undefined, 0, false)).toEqual([0, 0])
    expect(carriedTakeovers(a(), 1, true)).toEqual([0, 1])
    expect(carriedTakeovers(a([2, 5]), 0, true)).toEqual([3, 5])
    expect(carriedTakeovers(a([2, 5]), 1, false)).toEqual([2, 5])
  })
})
