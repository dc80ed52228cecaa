import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { eventTimeRule } from '@ridepulse/contracts'
import { awaitVerdict, getJson, LocalPipeline, startLoad, waitReady, type WorkerEnv, type WorkerProcess } from '@ridepulse/testkit'
import type { Figure } from '../../results.js'
import { summarize } from '../../stats.js'
import { buildShardHistory } from '../../worker/history.js'

export interface SizesOptions {
  brokers: string
  /** Live keys of the shard's state, one size after the other. */
  sizes: number[]
  /** Kills of the owner per size. */
  kills: number
  rate: number
  httpBase: number
  /** Hears of each takeover as it happens. */
  say?: (line: string) => void
}

interface View {
  phase: string
  lastRecovery: { startedAt: number; firstCommitAt: number | null; replayedRecords: number; promotion?: { reason: string } } | null
}

/** One size: the pair on a history of `keys` windows, its owner killed `o.kills` times. */
async function atSize(o: SizesOptions, keys: number): Promise<Figure[]> {
  const settings = { brokers: [o.brokers], clientId: 'bench-standby-sizes' }
  const pipeline = `standby-${keys}-${Date.now().toString(36)}`
  const dataDir = mkdtempSync(join(tmpdir(), 'ridepulse-bench-standby-'))
  const dirs = [join(dataDir, 'opb-0-0'), join(dataDir, 'opb-0-1')]
  try {
    await buildShardHistory(settings, pipeline, dirs[0]!, keys, 5000, true)
    cpSync(join(dirs[0]!, 'snapshots'), join(dirs[1]!, 'snapshots'), { recursive: true })
    const env: WorkerEnv = {
      WINDOW_SIZE_MS: '4000', ALLOWED_LATENESS_MS: '500', OUT_OF_ORDERNESS_MS: '500', IDLE_TIMEOUT_MS: '1500', SNAPSHOT_INTERVAL_MS: '2000',
      RETENTION_MS: String(10 * 365 * 86_400_000), LOG_LEVEL: 'warn', STANDBY_ENABLED: 'true', STANDBY_HEARTBEAT_MS: '100', STANDBY_LEASE_MS: '1000',
    }
    const p = new LocalPipeline({ brokers: o.brokers, pipeline, shards: 1, ordersPartitions: 1, opaInstances: 1, dataDir, httpBase: o.httpBase, env })
    const ports = [o.httpBase + 150, o.httpBase + 151]
    const start = (slot: number) => p.startOpb(0, { DATA_DIR: dirs[slot]!, STANDBY_SLOT: String(slot) }, ports[slot]!)
    const procs: WorkerProcess[] = []
    try {
      p.startOpa(0)
      procs[0] = start(0)
      await waitReady(procs[0], 600_000)
      procs[1] = start(1)
      await waitReady(procs[1], 600_000)
      const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: 1, ratePerSec: o.rate, zones: 24, seed: 9, malformedFraction: 0, maxDisorderMs: 300 })
      const ttr: number[] = []
      const detect: number[] = []
      const replayed: number[] = []
      let owner = 0
      try {
        await sleep(2000)
        for (let k = 0; k < o.kills; k++) {
          const standby = 1 - owner
          await waitReady(procs[standby]!, 600_000)
          await sleep(300 + Math.floor(Math.random() * 700))
          const killedAt = Date.now()
          procs[owner]!.child.kill('SIGKILL')
          let took: View['lastRecovery'] | undefined
          for (const deadline = Date.now() + 60_000; !took && Date.now() < deadline; await sleep(5)) {
            const st = await getJson<View>(ports[standby]!, '/status').catch(() => undefined)
            if (st?.phase === 'running' && st.lastRecovery?.firstCommitAt && st.lastRecovery.startedAt >= killedAt - 5) took = st.lastRecovery
          }
          if (!took) throw new Error(`${keys} keys, kill ${k + 1}: the standby did not take over within a minute`)
          ttr.push(took.firstCommitAt! - killedAt)
          detect.push(took.firstCommitAt! - took.startedAt)
          replayed.push(took.replayedRecords)
          o.say?.(`standby at ${keys} keys, kill ${k + 1}: first commit ${ttr.at(-1)} ms after the kill (${took.promotion?.reason ?? 'none'}, tail ${took.replayedRecords} records)`)
          await procs[owner]!.exited
          procs[owner] = start(owner)
          owner = standby
        }
        await sleep(1500)
      } finally {
        await load.stop()
      }
      const report = await awaitVerdict(settings, pipeline, { orders: 1, shards: 1 }, eventTimeRule(env), 120_000)
      return [
        { key: `standby.sizes.ttr.${keys}`, label: `${keys.toLocaleString('en')} keys: kill → first commit of the standby`, unit: 'ms', summary: summarize(ttr), params: { keys } },
        { key: `standby.sizes.detect.${keys}`, label: `${keys.toLocaleString('en')} keys: death detected → first commit`, unit: 'ms', summary: summarize(detect), params: { tailRecordsP50: [...replayed].sort((a, b) => a - b)[Math.floor(replayed.length / 2)] ?? 0 } },
        { key: `standby.sizes.exact.${keys}`, label: `${keys.toLocaleString('en')} keys: lost + duplicated windows`, unit: 'windows', value: report.lost + report.duplicated, params: { kills: o.kills, windows: report.windows, lost: report.lost, duplicated: report.duplicated } },
      ]
    } finally {
      for (const w of procs) w?.child.kill('SIGKILL')
      await p.stopAll()
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/**
 * Standby takeover of one OpB shard at several state sizes, on the real
 * broker, under live traffic: for each size the shard's history (`keys`
 * final windows in the changelog and in a snapshot on both processes'
 * volumes), OpA and the shard as a pair (STANDBY_ENABLED) under `rate`
 * events/s, and the owner killed with SIGKILL `kills` times: each time the
 * standby takes over and the killed process comes back as the new standby.
 */
export async function standbyAtSizes(o: SizesOptions): Promise<{ method: string; figures: Figure[] }> {
  const figures: Figure[] = []
  for (const keys of o.sizes) figures.push(...(await atSize(o, keys)))
  return {
    method:
      `At state sizes of ${o.sizes.map((k) => k.toLocaleString('en')).join(', ')} live keys: the shard's history (that many final windows) written to its changelog and to a snapshot on both processes' volumes, then OpA and the pair under ${o.rate} events/s, the owner killed with SIGKILL ${o.kills} times per size, the killed process coming back as the standby each time; ` +
      'kill → the new owner\'s first committed transaction, and the verifier over the live traffic\'s windows.',
    figures,
  }
}
