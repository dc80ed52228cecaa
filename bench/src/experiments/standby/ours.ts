import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { eventTimeRule } from '@ridepulse/contracts'
import { awaitVerdict, createRng, getJson, LocalPipeline, startLoad, waitReady, type WorkerProcess } from '@ridepulse/testkit'
import type { Figure } from '../../results.js'
import { summarize } from '../../stats.js'

const WINDOW = 4000

interface ShardView {
  phase: string
  lastRecovery: { startedAt: number; firstCommitAt: number | null; promotion?: { reason: string } } | null
}

/**
 * OpB's part of the standby experiment: local recovery and standby failover, in one run on one broker. OpA
 * and one OpB shard under generated traffic. First the shard runs alone and
 * its process is killed with SIGKILL and restarted at once, `kills` times
 * (local recovery). Then a second process stands by, and the owner is killed
 * `kills` times; the standby takes over and the killed one comes back as the
 * new standby. Each time: kill → the new owner's first committed
 * transaction (both read on this machine's clock). The verifier then checks
 * every window against the raw input.
 */
export async function oursFailover(o: { brokers: string; kills: number; rate: number; httpBase: number }): Promise<{ method: string; figures: Figure[] }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ridepulse-standby-'))
  const p = new LocalPipeline({
    brokers: o.brokers,
    pipeline: `standby-${Date.now().toString(36)}`,
    shards: 1,
    ordersPartitions: 1,
    opaInstances: 1,
    dataDir,
    httpBase: o.httpBase,
    env: { WINDOW_SIZE_MS: String(WINDOW), ALLOWED_LATENESS_MS: '500', OUT_OF_ORDERNESS_MS: '500', IDLE_TIMEOUT_MS: '1500', SNAPSHOT_INTERVAL_MS: '1000', LOG_LEVEL: 'warn', STANDBY_ENABLED: 'true', STANDBY_HEARTBEAT_MS: '100', STANDBY_LEASE_MS: '1000' },
  })
  const settings = { brokers: [o.brokers], clientId: 'bench-standby' }
  const rng = createRng(17)
  const slots = [0, 1].map((slot) => ({ dir: join(dataDir, `opb-0-${slot}`), port: o.httpBase + 150 + slot }))
  // Local recovery is measured without standbys: with them on, a restarted owner first gives a standby the time to take over.
  const start = (slot: number, standby = true) => p.startOpb(0, { DATA_DIR: slots[slot]!.dir, STANDBY_SLOT: String(slot), ...(standby ? {} : { STANDBY_ENABLED: 'false' }) }, slots[slot]!.port)
  const procs: (WorkerProcess | undefined)[] = []
  const status = (slot: number) => getJson<ShardView>(slots[slot]!.port, '/status')
  /** Polls `slot` until it owns the shard and has committed since `after`; returns that commit's time and the takeover's detection. */
  const committedAfter = async (slot: number, after: number) => {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(10)) {
      const st = await status(slot).catch(() => undefined)
      const r = st?.lastRecovery
      if (st?.phase === 'running' && r?.firstCommitAt && r.startedAt >= after - 5) return { at: r.firstCommitAt, detectedAt: r.startedAt, reason: r.promotion?.reason }
    }
    throw new Error(`slot ${slot} did not commit as the owner within a minute`)
  }
  const local: number[] = []
  const failover: number[] = []
  const detectToCommit: number[] = []
  const reasons = new Map<string, number>()
  try {
    p.startOpa(0)
    procs[0] = start(0, false)
    await waitReady(procs[0])
    const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: 1, ratePerSec: o.rate, zones: 24, seed: 5, malformedFraction: 0.01, maxDisorderMs: 300 })
    await sleep(3000)
    // Local recovery: the shard alone, its process killed and started again at once.
    for (let k = 0; k < o.kills; k++) {
      await sleep(500 + rng.int(1500))
      const killedAt = Date.now()
      procs[0]!.child.kill('SIGKILL')
      await procs[0]!.exited
      procs[0] = start(0, false)
      local.push((await committedAfter(0, killedAt)).at - killedAt)
    }
    // Standby: the owner restarted with standbys on (it announces itself), then a second process follows;
    // the owner is killed, the standby takes over, the killed one comes back to stand by.
    procs[0]!.child.kill('SIGKILL')
    await procs[0]!.exited
    procs[0] = start(0)
    await waitReady(procs[0])
    procs[1] = start(1)
    await waitReady(procs[1])
    let owner = 0
    for (let k = 0; k < o.kills; k++) {
      await sleep(500 + rng.int(1500))
      const standby = 1 - owner
      await waitReady(procs[standby]!)
      const killedAt = Date.now()
      procs[owner]!.child.kill('SIGKILL')
      const took = await committedAfter(standby, killedAt)
      failover.push(took.at - killedAt)
      detectToCommit.push(took.at - took.detectedAt)
      reasons.set(took.reason ?? 'none', (reasons.get(took.reason ?? 'none') ?? 0) + 1)
      await procs[owner]!.exited
      procs[owner] = start(owner)
      owner = standby
    }
    await sleep(1500)
    const sent = await load.stop()
    const report = await awaitVerdict(settings, p.opts.pipeline, { orders: 1, shards: 1 }, eventTimeRule(p.opts.env ?? {}), 60_000)
    return {
      method:
        `OpA ×1 and one OpB shard under ${o.rate} events/s of generated traffic, on one broker. First the shard's process alone is killed with SIGKILL and started again at once, ${o.kills} times (local recovery); ` +
        `then a second process stands by (STANDBY_ENABLED, heartbeat 100 ms, lease 1 s) and the owner is killed ${o.kills} times, the standby taking over and the killed process coming back as the new standby. ` +
        'Time to recover: the kill → the new owner\'s first committed transaction. The verifier then checks every window against the raw input.',
      figures: [
        { key: 'standby.local.ttr', label: 'local recovery: kill → first commit', unit: 'ms', summary: summarize(local) },
        { key: 'standby.failover.ttr', label: 'standby takeover: kill → first commit', unit: 'ms', summary: summarize(failover), params: Object.fromEntries(reasons) },
        { key: 'standby.failover.detectToCommit', label: 'standby takeover: death detected → first commit', unit: 'ms', summary: summarize(detectToCommit) },
        { key: 'standby.exact', label: 'lost + duplicated windows', unit: 'windows', value: report.lost + report.duplicated, params: { kills: 2 * o.kills, windows: report.windows, lost: report.lost, duplicated: report.duplicated, sent: sent.sent } },
      ],
    }
  } finally {
    for (const w of procs) w?.child.kill('SIGKILL')
    await p.stopAll()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
