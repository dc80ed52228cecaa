import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { firstCommitAfterRecovery, getJson, waitReady } from '@ridepulse/testkit'
import { PlainProducer } from '@ridepulse/kafka'
import { cleanUpPipelinesAfterEach, FAST_WINDOWS, testPipeline } from '@ridepulse/testkit/vitest'

type Status = { phase: string; lastRecovery: { snapshot: { snapshotId: string; kind: string } | null; rejectedSnapshots: { reason: string }[]; replayedRecords: number; timeToRecoverMs: number } | null; recoveries: number; lastSnapshot: unknown }

cleanUpPipelinesAfterEach()

describe('crashes on a real broker', () => {
  it('kill -9 of an OpB shard under load: only that shard restarts, from its local snapshot, and the output stays exact', async () => {
    const t = testPipeline('kill')
    await t.p.startAll()
    const opa = t.p.opa.get(0)!
    const load = t.load()
    for (const round of [0, 1]) {
      await sleep(2500)
      const shard = round % 2
      await t.p.killOpb(shard)
      const w = t.p.startOpb(shard)
      await waitReady(w)
      // Its output flows again: a transaction committed after the recovery.
      expect(await firstCommitAfterRecovery(w.port)).toBeGreaterThan(w.startedAt)
      const st = await getJson<Status>(w.port, '/status')
      expect(st.phase).toBe('running')
      expect(st.lastRecovery?.snapshot).not.toBeNull()
    }
    // Stragglers for windows closed long ago: counted as late, never in a final.
    const straggler = new PlainProducer({ ...t.settings, clientId: 'stragglers' })
    await straggler.send(
      Array.from({ length: 5 }, (_, i) => ({
        topic: t.p.topics.TOPIC_ORDERS,
        partition: i % 2,
        value: Buffer.from(JSON.stringify({ eventId: `straggler-${i}`, rideId: `s-${i}`, zone: 'harbor', type: 'requested', ts: Date.now() - 30_000 })),
      })),
    )
    await straggler.close()
    await sleep(2000)
    const sent = await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0, finalsTwice: 0, revViolations: 0, lateEvents: 5 })
    expect(report.windows).toBeGreaterThan(4)
    // Every malformed event is in the dead-letter topic, with its reason and source.
    const dead = await t.deadLetters()
    expect(dead).toHaveLength(sent.malformed)
    expect(sent.malformed).toBeGreaterThan(0)
    for (const d of dead) expect(d).toMatchObject({ reason: expect.stringMatching(/.+/), code: 'malformed', sourceTopic: t.p.topics.TOPIC_ORDERS, truncated: false })
    // OpA never restarted: the same process, still running.
    expect(opa.child.exitCode).toBeNull()
    expect(t.p.opa.get(0)).toBe(opa)
  })

  it.each(['before-commit', 'during-commit', 'after-commit'])('OpA and an OpB shard that die %s recover exactly', async (point) => {
    const t = testPipeline(`fault-${point}`)
    // Each kills itself (SIGKILL) at that point of a given commit; the test
    // restarts it without the fault, as a supervisor would.
    const opa = t.p.startOpa(0, { FAULT: `${point}:8` })
    const opb = t.p.startOpb(0, { FAULT: `${point}:15` })
    t.p.startOpb(1)
    await Promise.all([...t.p.opa.values(), ...t.p.opb.values()].map((w) => waitReady(w)))
    const load = t.load()
    for (const [w, restart] of [
      [opa, () => t.p.startOpa(0)],
      [opb, () => t.p.startOpb(0)],
    ] as const) {
      const code = await Promise.race([w.exited, sleep(30_000).then(() => 'alive')])
      expect(code).toBeNull()
      expect(w.child.signalCode).toBe('SIGKILL')
      await waitReady(restart())
    }
    await sleep(1500)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
  })

  it('the same crash with transactions off repeats a batch, and the verifier reports the duplicates', async () => {
    // The control for the exact runs above: what they check can fail.
    const t = testPipeline('at-least-once', { env: { ...FAST_WINDOWS, DELIVERY: 'at-least-once' } })
    const opa = t.p.startOpa(0, { FAULT: 'during-commit:8' })
    t.p.startOpb(0)
    t.p.startOpb(1)
    await Promise.all([...t.p.opa.values(), ...t.p.opb.values()].map((w) => waitReady(w)))
    const load = t.load()
    expect(await Promise.race([opa.exited, sleep(30_000).then(() => 'alive')])).toBeNull()
    await waitReady(t.p.startOpa(0))
    await sleep(1500)
    await load.stop()
    const report = await t.verifyWhenFinal(15_000)
    expect(report.ok).toBe(false)
    expect(report.duplicated).toBeGreaterThan(0)
    expect(report.lost).toBe(0)
  })

  it('checkpoint-only mode (no changelog): kill -9 and a crash during the commit both resume from the committed checkpoint, exact', async () => {
    const t = testPipeline('checkpoint', { env: { ...FAST_WINDOWS, SNAPSHOT_MODE: 'checkpoint', SNAPSHOT_INTERVAL_MS: '1000' } })
    t.p.startOpa(0)
    const faulty = t.p.startOpb(0, { FAULT: 'during-commit:3' })
    t.p.startOpb(1)
    await Promise.all([...t.p.opa.values(), ...t.p.opb.values()].map((w) => waitReady(w)))
    const load = t.load()
    expect(await Promise.race([faulty.exited, sleep(30_000).then(() => 'alive')])).toBeNull()
    await waitReady(t.p.startOpb(0))
    await sleep(2500)
    await t.p.killOpb(1)
    const w = t.p.startOpb(1)
    await waitReady(w)
    const st = await getJson<Status>(w.port, '/status')
    expect(st.lastRecovery).toMatchObject({ replayedRecords: 0, snapshot: expect.objectContaining({ kind: 'full' }) })
    await sleep(2000)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0, finalsTwice: 0, revViolations: 0 })
  })

  for (const role of ['opb', 'opa'] as const) {
    it(`two ${role === 'opb' ? 'OpB processes for the same shard' : 'OpA processes for the same instance'}: the older is fenced, the newer goes on, and the output stays exact`, async () => {
      const t = testPipeline(`zombie-${role}`)
      await t.p.startAll()
      const load = t.load()
      await sleep(2000)
      // A second process for the same unit, as a replacement pod would be (OpB on its own volume).
      const old = role === 'opb' ? t.p.opb.get(1)! : t.p.opa.get(0)!
      const replacement = role === 'opb' ? t.p.startOpb(1, { DATA_DIR: join(t.dataDir, 'opb-1-replacement') }, old.port + 50) : t.p.startOpa(0, {}, old.port + 50)
      await waitReady(replacement)
      const oldExit = await Promise.race([old.exited, sleep(15_000).then(() => 'still running')])
      expect(oldExit).toBe(1)
      await sleep(1500)
      const sent = await load.stop()
      const report = await t.verifyWhenFinal()
      expect(report.problems).toEqual([])
      expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
      // Each malformed event once in the dead-letter topic, whichever process read it.
      const dead = await t.deadLetters()
      expect(new Set(dead.map((d) => `${d.sourcePartition}:${d.sourceOffset}`)).size).toBe(dead.length)
      expect(dead).toHaveLength(sent.malformed)
      // The fenced process stopped without taking the replacement down with it.
      expect(replacement.child.exitCode).toBeNull()
    })
  }

  it('a corrupted, truncated or deleted snapshot is detected and the next one back (or a full replay) is used', async () => {
    const t = testPipeline('corrupt')
    await t.p.startAll()
    const load = t.load()
    const snapDir = join(t.dataDir, 'opb-0', 'snapshots')
    const damage = [
      async (newest: string) => {
        const f = join(snapDir, newest, (await readdir(join(snapDir, newest))).find((n) => n !== 'manifest.json')!)
        const b = await readFile(f)
        b[Math.floor(b.length / 2)]! ^= 0xff
        await writeFile(f, b)
      },
      async (newest: string) => {
        const f = join(snapDir, newest, (await readdir(join(snapDir, newest))).find((n) => n !== 'manifest.json')!)
        const b = await readFile(f)
        await writeFile(f, b.subarray(0, Math.floor(b.length / 3)))
      },
      async () => {
        for (const d of await readdir(snapDir)) execFileSync('rm', ['-rf', join(snapDir, d)])
      },
    ]
    for (const harm of damage) {
      await sleep(2500)
      await t.p.killOpb(0)
      const names = (await readdir(snapDir)).filter((n) => !n.startsWith('.')).sort()
      await harm(names.at(-1)!)
      const w = t.p.startOpb(0)
      await waitReady(w)
      const st = await getJson<Status>(w.port, '/status')
      expect(st.lastRecovery!.rejectedSnapshots.length).toBeGreaterThan(0)
    }
    await sleep(1500)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
  })

  it('a broker kill -9 and restart mid-run: the pipeline resumes and stays exact', async () => {
    const t = testPipeline('broker')
    await t.p.startAll()
    const load = t.load()
    await sleep(2500)
    const args = ['--port', String(inject('kafkaPort')), '--data', inject('kafkaData')]
    execFileSync('bash', [inject('kafkaScript'), 'kill', ...args])
    await sleep(1000)
    execFileSync('bash', [inject('kafkaScript'), 'start', ...args], { stdio: ['ignore', 'ignore', 'inherit'] })
    await sleep(4000)
    await load.stop()
    const report = await t.verifyWhenFinal(60_000)
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
    for (const w of [...t.p.opa.values(), ...t.p.opb.values()]) expect(w.child.exitCode).toBeNull()
  })
})
