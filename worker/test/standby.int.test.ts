import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it, onTestFinished } from 'vitest'
import { getJson, waitReady, type WorkerProcess } from '@ridepulse/testkit'
import { cleanUpPipelinesAfterEach, FAST_WINDOWS, testPipeline } from '@ridepulse/testkit/vitest'

type Status = {
  phase: string
  incarnation: string | null
  promotions: number
  watchers: number | null
  slotTakeovers: number[] | null
  standby: { active: { port: number; incarnation: string } | null; watching: boolean; lagRecords: number; position: number } | null
  lastRecovery: { startedAt: number; firstCommitAt: number | null; promotion?: { reason: string }; replayedRecords: number; snapshot: unknown; phasesMs?: Record<string, number> } | null
}

const STANDBY = { STANDBY_ENABLED: 'true', STANDBY_HEARTBEAT_MS: '100', STANDBY_LEASE_MS: '1000' }

cleanUpPipelinesAfterEach()

async function waitFor<T>(what: string, get: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await get().catch(() => undefined)
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

const status = (w: WorkerProcess) => getJson<Status>(w.port, '/status')

/** A pipeline whose shard 0 runs as two processes, each on its own volume and port: slot 0 takes the shard, slot 1 stands by. */
async function ownerAndStandby(name: string) {
  const t = testPipeline(name, { env: { ...FAST_WINDOWS, ...STANDBY } })
  t.p.startOpa(0)
  t.p.startOpb(1)
  const slots = [0, 1].map((slot) => ({ dir: join(t.dataDir, `opb-0-${slot}`), port: t.p.opts.httpBase + 150 + slot }))
  const start = (slot: number) => t.p.startOpb(0, { DATA_DIR: slots[slot]!.dir, STANDBY_SLOT: String(slot) }, slots[slot]!.port)
  const procs: WorkerProcess[] = [start(0)]
  onTestFinished(() => procs.forEach((p) => p.child.kill('SIGKILL')))
  await waitReady(procs[0]!)
  procs[1] = start(1)
  await waitReady(procs[1]!)
  return { t, slots, start, procs }
}

describe('a hot standby for an OpB shard', () => {
  it('follows the owner, takes the shard over when the owner is killed -9, and the output stays exact; the killed one comes back as the standby', async () => {
    const { t, slots, start, procs } = await ownerAndStandby('standby')
    const sb = await status(procs[1]!)
    expect(sb.phase).toBe('standby')
    expect(sb.standby?.active).toMatchObject({ port: slots[0]!.port, incarnation: (await status(procs[0]!)).incarnation })
    const load = t.load()
    let active = 0
    const takeovers: number[] = []
    for (let round = 0; round < 3; round++) {
      await sleep(2000)
      const standby = 1 - active
      // The standby keeps up with the changelog while the owner commits.
      const following = await status(procs[standby]!)
      expect(following.standby?.position).toBeGreaterThan(0)
      const killedAt = Date.now()
      procs[active]!.child.kill('SIGKILL')
      const taken = await waitFor('the standby\'s first commit as the owner', async () => {
        const st = await status(procs[standby]!)
        return st.phase === 'running' && st.lastRecovery?.firstCommitAt ? st : undefined
      })
      expect(taken.lastRecovery?.promotion?.reason).toBe('connection-closed')
      expect(taken.lastRecovery?.snapshot).toBeNull()
      // Each owner carries the shard's count of takeovers on from the last.
      expect(taken.slotTakeovers).toEqual([Math.floor((round + 1) / 2), Math.ceil((round + 1) / 2)])
      takeovers.push(taken.lastRecovery!.firstCommitAt! - killedAt)
      // The killed process comes back as the new standby, of the new owner.
      await procs[active]!.exited
      procs[active] = start(active)
      await waitReady(procs[active]!)
      const back = await status(procs[active]!)
      expect(back.phase).toBe('standby')
      expect(back.standby?.active?.incarnation).toBe(taken.incarnation)
      active = standby
    }
    console.log(`kill -9 of the owner -> first commit by the standby: ${takeovers.join(', ')} ms`)
    await sleep(1500)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
  })

  it('an owner told to stop (SIGTERM) hands the shard to its standby before it exits; exact', async () => {
    const { t, procs } = await ownerAndStandby('standby-handoff')
    const load = t.load()
    await sleep(2000)
    let exitedAt = 0
    void procs[0]!.exited.then(() => (exitedAt = Date.now()))
    procs[0]!.child.kill('SIGTERM')
    const taken = await waitFor('the standby owning the shard', async () => {
      const st = await status(procs[1]!)
      return st.phase === 'running' && st.lastRecovery?.firstCommitAt ? st : undefined
    })
    // Told, not left to find out from a closed connection or silence.
    expect(taken.lastRecovery?.promotion?.reason).toBe('stopped')
    expect(await procs[0]!.exited).toBe(0)
    console.log(`SIGTERM to the owner: standby detected it ${exitedAt - taken.lastRecovery!.startedAt} ms before the owner's exit`)
    await sleep(1500)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
  })

  it('told by the operator that the owner\'s pod is deleted, the standby takes over while the owner still runs; the owner, fenced, stops; exact', async () => {
    const { t, slots, procs } = await ownerAndStandby('standby-owner-gone')
    const load = t.load()
    await sleep(2000)
    const post = (host: string) => fetch(`http://127.0.0.1:${slots[1]!.port}/standby/owner-gone?host=${host}`, { method: 'POST' })
    // Another address is not the owner it stands by: refused, nothing happens.
    expect((await post('10.9.9.9')).status).toBe(409)
    expect((await status(procs[1]!)).phase).toBe('standby')
    expect((await post('127.0.0.1')).status).toBe(200)
    const taken = await waitFor('the standby owning the shard', async () => {
      const st = await status(procs[1]!)
      return st.phase === 'running' && st.lastRecovery?.firstCommitAt ? st : undefined
    })
    expect(taken.lastRecovery?.promotion?.reason).toBe('deleted')
    // The fence met the old owner alive with a transaction open: how long it took to end it.
    console.log(`takeover while the owner runs: phases ${JSON.stringify(taken.lastRecovery?.phasesMs)} ms, first commit ${taken.lastRecovery!.firstCommitAt! - taken.lastRecovery!.startedAt} ms after the notice`)
    // The old owner was alive all along: fenced, it stops without registering again.
    expect(await Promise.race([procs[0]!.exited, sleep(30_000).then(() => 'alive')])).toBe(1)
    // The owner refuses the notice: it stands by nobody.
    expect((await post('127.0.0.1')).status).toBe(409)
    await sleep(1500)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
  })

  it('an owner that goes silent (SIGSTOP) is taken over after the lease; resumed, it finds itself fenced and stops; both killed at once, the two come back and stay exact', async () => {
    const { t, start, procs } = await ownerAndStandby('standby-silent')
    const load = t.load()
    await sleep(2000)
    const stoppedAt = Date.now()
    procs[0]!.child.kill('SIGSTOP')
    const taken = await waitFor('the standby owning the shard', async () => {
      const st = await status(procs[1]!)
      return st.phase === 'running' && st.lastRecovery?.firstCommitAt ? st : undefined
    })
    expect(taken.lastRecovery?.promotion?.reason).toBe('silent')
    expect(taken.lastRecovery!.startedAt - stoppedAt).toBeGreaterThanOrEqual(900)
    await sleep(1000)
    procs[0]!.child.kill('SIGCONT')
    // Its next commit is refused: fenced, it stops without registering again.
    expect(await Promise.race([procs[0]!.exited, sleep(30_000).then(() => 'alive')])).toBe(1)
    procs[0] = start(0)
    await waitReady(procs[0]!)
    expect((await status(procs[0]!)).phase).toBe('standby')

    // Both at once: each comes back from its own volume; one owns the shard, the other stands by.
    await sleep(1500)
    for (const p of procs) p.child.kill('SIGKILL')
    await Promise.all(procs.map((p) => p.exited))
    procs[0] = start(0)
    procs[1] = start(1)
    // Slot 1 waits for slot 0 to claim the shard: no fencing between the two, no restart needed.
    await Promise.all(procs.map((p) => waitReady(p, 60_000)))
    const phases = (await Promise.all(procs.map(status))).map((s) => s.phase)
    expect(phases).toEqual(['running', 'standby'])
    expect(procs.map((p) => p.child.exitCode)).toEqual([null, null])
    await sleep(1500)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
  })

  it('an owner restarted at once while its standby takes over stands by the new owner instead of fencing it; both stay up; exact', async () => {
    const { t, start, procs } = await ownerAndStandby('standby-restart-race')
    const load = t.load()
    await sleep(2000)
    // The standby is held back while the owner dies and comes straight back, as a pod recreated
    // within a second: the restarted process finds the announced owner gone before the standby
    // has announced itself, and must give it the time to.
    procs[1]!.child.kill('SIGSTOP')
    procs[0]!.child.kill('SIGKILL')
    await procs[0]!.exited
    procs[0] = start(0)
    await sleep(800)
    procs[1]!.child.kill('SIGCONT')
    await waitFor('the standby owning the shard', async () => {
      const st = await status(procs[1]!)
      return st.phase === 'running' && st.lastRecovery?.promotion && st.lastRecovery.firstCommitAt ? st : undefined
    })
    await waitReady(procs[0]!, 60_000)
    expect((await status(procs[0]!)).phase).toBe('standby')
    expect(procs.map((p) => p.child.exitCode)).toEqual([null, null])
    await sleep(1500)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
  })

  it('a pod recreated while its old container still runs stands by the dying owner behind the standby, and leaves the shard to it; all stay up; exact', async () => {
    const { t, procs } = await ownerAndStandby('standby-recreated')
    const load = t.load()
    await sleep(1500)
    // As a force-deleted pod whose container outlives its API object: the
    // replacement (slot 0 again, same shard) starts while the old owner
    // still answers, and stands by it too, second in line.
    const recreated = t.p.startOpb(0, { DATA_DIR: join(t.dataDir, 'opb-0-recreated'), STANDBY_SLOT: '0' }, t.p.opts.httpBase + 152)
    procs.push(recreated)
    await waitReady(recreated)
    const owner = await status(procs[0]!)
    expect(owner.watchers).toBe(2)
    expect((await status(recreated)).standby?.active?.incarnation).toBe(owner.incarnation)
    await sleep(1000)
    procs[0]!.child.kill('SIGKILL')
    const taken = await waitFor('the first standby owning the shard', async () => {
      const st = await status(procs[1]!)
      return st.phase === 'running' && st.lastRecovery?.firstCommitAt ? st : undefined
    })
    expect(taken.lastRecovery?.promotion?.reason).toBe('connection-closed')
    // The second in line stands by the new owner instead of fencing it.
    const second = await waitFor('the recreated process standing by the new owner', async () => {
      const st = await status(recreated)
      return st.standby?.active?.incarnation === taken.incarnation ? st : undefined
    })
    expect(second).toMatchObject({ phase: 'standby', promotions: 0 })
    await sleep(1500)
    expect([procs[1]!, recreated].map((p) => p.child.exitCode)).toEqual([null, null])
    expect((await status(procs[1]!)).phase).toBe('running')
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
  })

  it('a standby that fell behind replays the longer tail when it takes over; one killed while it takes over leaves the shard to the next start; exact', async () => {
    const { t, start, procs } = await ownerAndStandby('standby-behind')
    const load = t.load({ ratePerSec: 800 })
    await sleep(1500)
    // The standby frozen while the owner commits for 3 s, and the owner dies
    // meanwhile: the standby wakes 3 s behind the changelog to a closed
    // connection. What it has not applied by the fence, it replays after it.
    const position = (await status(procs[1]!)).standby!.position
    procs[1]!.child.kill('SIGSTOP')
    await sleep(3000)
    procs[0]!.child.kill('SIGKILL')
    await procs[0]!.exited
    procs[1]!.child.kill('SIGCONT')
    const taken = await waitFor('the lagging standby owning the shard', async () => {
      const st = await status(procs[1]!)
      return st.phase === 'running' && st.lastRecovery?.firstCommitAt ? st : undefined
    })
    // Woken, it may count the missed beats before it reads the closed connection: either ends the owner.
    expect(taken.lastRecovery?.promotion?.reason).toMatch(/^(connection-closed|silent)$/)
    const r = taken.lastRecovery as unknown as { changelogFrom: number; changelogTo: number; replayedRecords: number }
    // It was behind: the changelog had grown past where it stood when it froze.
    expect(r.changelogTo).toBeGreaterThan(position)
    console.log(`a standby frozen 3 s took over: it stood at ${position}, the changelog ended at ${r.changelogTo}, ${r.replayedRecords} records replayed after the fence`)
    await procs[0]!.exited
    procs[0] = start(0)
    await waitReady(procs[0]!)
    await sleep(1500)
    // Killed while it takes over: the owner, then at once the standby in the middle of its fence or replay.
    const owner = (await status(procs[0]!)).phase === 'running' ? 0 : 1
    procs[owner]!.child.kill('SIGKILL')
    await sleep(40)
    procs[1 - owner]!.child.kill('SIGKILL')
    await Promise.all(procs.map((p) => p.exited))
    procs[0] = start(0)
    procs[1] = start(1)
    await Promise.all(procs.map((p) => waitReady(p, 60_000)))
    expect((await Promise.all(procs.map(status))).map((s) => s.phase)).toEqual(['running', 'standby'])
    await sleep(1500)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
  })
})
