import { execFileSync } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { setTimeout as sleep } from 'node:timers/promises'
import { waitReady } from '@ridepulse/testkit'
import { cleanUpPipelinesAfterEach, testPipeline } from '@ridepulse/testkit/vitest'

cleanUpPipelinesAfterEach()

const isRoot = process.getuid?.() === 0

/** Writes to `file` until the filesystem has no room left. */
function fillUp(file: string): void {
  const fd = openSync(file, 'w')
  const chunk = Buffer.alloc(256 * 1024, 0x61)
  try {
    for (;;) writeSync(fd, chunk)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
  } finally {
    closeSync(fd)
  }
}

async function healthz(port: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`)
  return { status: res.status, body: await res.text() }
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

describe('an OpB shard on a full volume', () => {
  // Mounting a filesystem of its own needs root, as the tests run in CI.
  it.skipIf(!isRoot)('says so in its logs, its metrics and /healthz, keeps the rest going, and once space returns recovers exactly; leftovers are removed at start', async () => {
    const mnt = mkdtempSync(join(tmpdir(), 'ridepulse-small-volume-'))
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt])
    const t = testPipeline('full-disk', { opbEnv: (s) => (s === 0 ? { DATA_DIR: join(mnt, 'opb-0') } : {}) })
    try {
      // What a process that died mid-snapshot left on the volume.
      const leftover = join(mnt, 'opb-0', 'snapshots', '.tmp-000000000000001-abcdef')
      mkdirSync(leftover, { recursive: true })
      writeFileSync(join(leftover, 'data.mdb'), Buffer.alloc(1 << 20))
      await t.p.startAll()
      expect(readdirSync(join(mnt, 'opb-0', 'snapshots')).filter((n) => n.startsWith('.tmp-'))).toEqual([])

      const load = t.load()
      await sleep(2500)
      const shard0 = t.p.opb.get(0)!
      fillUp(join(mnt, 'filler'))
      expect(statfsSync(mnt).bavail).toBe(0)

      const sick = await until('/healthz to report the full volume', 20_000, async () => {
        const h = await healthz(shard0.port)
        return h.status === 503 ? h : undefined
      })
      expect(sick.body).toMatch(/cannot write to the data volume .*(ENOSPC|no space)/i)
      const metrics = await (await fetch(`http://127.0.0.1:${shard0.port}/metrics`)).text()
      expect(metrics).toMatch(/ridepulse_volume_writable\{[^}]*\} 0/)
      expect(metrics).toMatch(/ridepulse_volume_write_failures_total\{[^}]*operation="(snapshot|state|recovery)"[^}]*\} [1-9]/)
      // The other shard never noticed.
      expect((await healthz(t.p.opb.get(1)!.port)).status).toBe(200)
      await sleep(1500)

      rmSync(join(mnt, 'filler'))
      await until('/healthz to be well again', 30_000, async () => ((await healthz(shard0.port)).status === 200 ? true : undefined))
      await waitReady(shard0)
      await sleep(1500)
      await load.stop()
      const report = await t.verifyWhenFinal()
      expect(report.problems).toEqual([])
      expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
      // The same process all along: it needed no restart to recover.
      expect(shard0.child.exitCode).toBeNull()
      expect(readdirSync(join(mnt, 'opb-0', 'snapshots')).filter((n) => n.startsWith('.tmp-'))).toEqual([])
    } finally {
      await t.p.stopAll()
      execFileSync('umount', [mnt])
      rmSync(mnt, { recursive: true, force: true })
    }
  })
})
