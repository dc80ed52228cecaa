import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getJson, startObjectStore, waitReady, type LocalObjectStore } from '@ridepulse/testkit'
import { cleanUpPipelinesAfterEach, FAST_WINDOWS, testPipeline } from '@ridepulse/testkit/vitest'

type Recovery = {
  snapshot: { snapshotId: string; kind: string; source: 'local' | 'remote'; downloadMs?: number } | null
  rejectedSnapshots: { snapshotId: string; reason: string }[]
  replayedRecords: number
  changelogFrom: number
  changelogTo: number
}
type Status = {
  phase: string
  commits: number
  lastRecovery: Recovery | null
  remoteSnapshots: { where: string; uploads: number; failures: number; lastError: string | null; last: { snapshotId: string } | null } | null
}

cleanUpPipelinesAfterEach()

let store: LocalObjectStore
beforeAll(async () => {
  store = await startObjectStore()
})
afterAll(async () => {
  await store?.stop()
})

/** The whole copies (those with a manifest) of one shard, oldest first. */
async function copies(pipeline: string, shard: number): Promise<string[]> {
  const keys = await store.keys(`${pipeline}/opb-${shard}/`)
  return keys.filter((k) => k.endsWith('/manifest.json')).map((k) => k.split('/').at(-2)!)
}

async function waitFor<T>(what: string, get: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await get()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}

describe('snapshot copies in an S3-compatible store (MinIO)', () => {
  it('full snapshots are copied and pruned; a shard whose volume is lost restores from the newest copy plus the changelog tail, exact', async () => {
    const t = testPipeline('remote', { env: { ...FAST_WINDOWS, ...store.env, ...store.credentials, REMOTE_SNAPSHOTS_KEEP: '2', SNAPSHOT_FULL_EVERY: '1' } })
    await t.p.startAll()
    const load = t.load()
    const pipeline = t.p.opts.pipeline
    // Several copies made, only the newest two kept.
    await waitFor('three copies made', async () => ((await getJson<Status>(t.p.opb.get(0)!.port, '/status')).remoteSnapshots?.uploads ?? 0) >= 3)
    expect((await copies(pipeline, 0)).length).toBeLessThanOrEqual(3) // two kept, a third may be between its copy and its prune

    for (const round of [0, 1]) {
      const newest = (await copies(pipeline, 0)).at(-1)!
      await t.p.killOpb(0)
      // The volume is lost: nothing of the shard's data directory is left.
      await rm(join(t.dataDir, 'opb-0'), { recursive: true, force: true })
      const w = t.p.startOpb(0)
      await waitReady(w)
      const st = await getJson<Status>(w.port, '/status')
      expect(st.phase).toBe('running')
      const r = st.lastRecovery!
      expect(r.snapshot).toMatchObject({ kind: 'full', source: 'remote' })
      expect(r.snapshot!.snapshotId >= newest).toBe(true)
      expect(r.snapshot!.downloadMs).toBeGreaterThanOrEqual(0)
      // Only the tail after the copy was replayed, not the whole changelog.
      expect(r.changelogFrom).toBeGreaterThan(0)
      expect(r.replayedRecords).toBeLessThan(r.changelogTo)
      console.log(`round ${round}: restored ${r.snapshot!.snapshotId} from the store in ${r.snapshot!.downloadMs} ms, replayed ${r.replayedRecords} of ${r.changelogTo} changelog records`)
      await sleep(2500)
    }
    await sleep(1500)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
    // Settled: no more changes, so no more snapshots; the prune after the last copy has run.
    await sleep(3000)
    for (const shard of [0, 1]) expect((await copies(pipeline, shard)).length).toBe(2)
  })

  it('a copy that fails its checksum is passed over, wrong credentials and a store that is down stop nothing, and without a store the shard replays the whole changelog', async () => {
    const t = testPipeline('remote-bad', {
      env: { ...FAST_WINDOWS, ...store.env, ...store.credentials, SNAPSHOT_FULL_EVERY: '1' },
      opbEnv: (s) => (s === 1 ? { AWS_SECRET_ACCESS_KEY: 'not-the-secret' } : {}),
    })
    await t.p.startAll()
    const load = t.load()
    const pipeline = t.p.opts.pipeline
    await waitFor('two copies of shard 0', async () => (await copies(pipeline, 0)).length >= 2)

    // Shard 1 cannot sign its requests: every copy fails, named by the store, and the shard goes on committing.
    const one = await waitFor('a failed copy on shard 1', async () => {
      const st = await getJson<Status>(t.p.opb.get(1)!.port, '/status')
      return (st.remoteSnapshots?.failures ?? 0) > 0 && st
    })
    expect(one.remoteSnapshots!.lastError).toMatch(/SignatureDoesNotMatch/)
    expect(one.remoteSnapshots!.uploads).toBe(0)
    const commits = one.commits
    await waitFor('shard 1 committing on', async () => (await getJson<Status>(t.p.opb.get(1)!.port, '/status')).commits > commits + 5)

    // The newest copy is damaged in the store (same size, other bytes): the one before is used.
    await t.p.killOpb(0)
    const [older, newest] = (await copies(pipeline, 0)).slice(-2) as [string, string]
    const key = `${pipeline}/opb-0/${newest}/data.mdb`
    const data = Buffer.from(await (await store.s3.send(new GetObjectCommand({ Bucket: store.bucket, Key: key }))).Body!.transformToByteArray())
    data[Math.floor(data.length / 2)]! ^= 0xff
    await store.s3.send(new PutObjectCommand({ Bucket: store.bucket, Key: key, Body: data }))
    await rm(join(t.dataDir, 'opb-0'), { recursive: true, force: true })
    let w = t.p.startOpb(0)
    await waitReady(w)
    let r = (await getJson<Status>(w.port, '/status')).lastRecovery!
    expect(r.rejectedSnapshots).toContainEqual({ snapshotId: newest, reason: expect.stringMatching(/fails its checksum/) })
    expect(r.snapshot).toMatchObject({ snapshotId: older, source: 'remote' })

    // The store goes down: copies fail, the shard goes on; a lost volume then replays the whole changelog.
    await sleep(1500)
    await store.stop()
    await waitFor('a failed copy on shard 0', async () => ((await getJson<Status>(w.port, '/status')).remoteSnapshots?.failures ?? 0) > 0, 60_000)
    await t.p.killOpb(0)
    await rm(join(t.dataDir, 'opb-0'), { recursive: true, force: true })
    w = t.p.startOpb(0)
    await waitReady(w, 120_000)
    r = (await getJson<Status>(w.port, '/status')).lastRecovery!
    expect(r.snapshot).toBeNull()
    expect(r.changelogFrom).toBe(0)
    expect(r.rejectedSnapshots.some((x) => /remote snapshot store: listing/.test(x.reason))).toBe(true)

    await sleep(1500)
    await load.stop()
    const report = await t.verifyWhenFinal()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
    store = await startObjectStore() // for any test after this one
  })
})
