#!/usr/bin/env node
/**
 * Standby takeover of one OpB shard at a given state size, on the real
 * broker, under live traffic:
 *
 *   npm run bench:standby [-- --keys 10000,100000,1000000 --kills 50 --rate 1000]
 *
 * For each size it builds the shard's history (`keys` final windows in the
 * changelog and in a snapshot, on both processes' volumes), runs OpA and the
 * shard as a pair (STANDBY_ENABLED) under `rate` events/s, and kills the
 * owner with SIGKILL `kills` times: each time the standby takes over, and
 * the killed process comes back as the new standby. Time to recover: kill →
 * the new owner's first committed transaction. The verifier checks the live
 * traffic's windows at the end.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { eventTimeRule } from '@ridepulse/contracts'
import { awaitVerdict, getJson, LocalPipeline, runTeardown, startLoad, startLocalKafka, stopOnSignals, waitReady, type WorkerEnv, type WorkerProcess } from '@ridepulse/testkit'
import { buildShardHistory } from './history.js'

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000,100000,1000000' },
    kills: { type: 'string', default: '50' },
    rate: { type: 'string', default: '1000' },
    port: { type: 'string', default: '29392' },
    json: { type: 'string' },
  },
})
const sizes = args.keys.split(',').map(Number)
const kills = Number(args.kills)
const rate = Number(args.rate)
const out = (s: string) => process.stdout.write(`${s}\n`)
const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? 0
}

interface View {
  phase: string
  lastRecovery: { startedAt: number; firstCommitAt: number | null; replayedRecords: number; promotion?: { reason: string } } | null
}

const samples: { keys: number; ttrMs: number[]; detectToCommitMs: number[]; replayedRecords: number[]; lost: number; duplicated: number; windows: number }[] = []
stopOnSignals()
const kafka = startLocalKafka(Number(args.port))
const settings = { brokers: [kafka.brokers], clientId: 'bench-standby' }
try {
  out(`# standby takeover of one OpB shard (Kafka on loopback, ${rate} events/s, ${kills} kills of the owner per size)`)
  out('| live keys | ttr p50 ms | p95 | p99 | max | detected → commit p50 | p95 | tail records p50 | lost | duplicated |')
  out('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const n of sizes) {
    const pipeline = `standby-${n}-${Date.now().toString(36)}`
    const dataDir = mkdtempSync(join(tmpdir(), 'ridepulse-bench-standby-'))
    const dirs = [join(dataDir, 'opb-0-0'), join(dataDir, 'opb-0-1')]
    await buildShardHistory(settings, pipeline, dirs[0]!, n, 5000, true)
    cpSync(join(dirs[0]!, 'snapshots'), join(dirs[1]!, 'snapshots'), { recursive: true })
    const env: WorkerEnv = {
      WINDOW_SIZE_MS: '4000', ALLOWED_LATENESS_MS: '500', OUT_OF_ORDERNESS_MS: '500', IDLE_TIMEOUT_MS: '1500', SNAPSHOT_INTERVAL_MS: '2000',
      RETENTION_MS: String(10 * 365 * 86_400_000), LOG_LEVEL: 'warn', STANDBY_ENABLED: 'true', STANDBY_HEARTBEAT_MS: '100', STANDBY_LEASE_MS: '1000',
    }
    const p = new LocalPipeline({ brokers: kafka.brokers, pipeline, shards: 1, ordersPartitions: 1, opaInstances: 1, dataDir, httpBase: 27_600, env })
    const ports = [27_750, 27_751]
    const start = (slot: number) => p.startOpb(0, { DATA_DIR: dirs[slot]!, STANDBY_SLOT: String(slot) }, ports[slot]!)
    const procs: WorkerProcess[] = []
    try {
      p.startOpa(0)
      procs[0] = start(0)
      await waitReady(procs[0], 600_000)
      procs[1] = start(1)
      await waitReady(procs[1], 600_000)
      const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: 1, ratePerSec: rate, zones: 24, seed: 9, malformedFraction: 0, maxDisorderMs: 300 })
      const ttr: number[] = []
      const detect: number[] = []
      const replayed: number[] = []
      let owner = 0
      await sleep(2000)
      for (let k = 0; k < kills; k++) {
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
        if (!took) throw new Error(`kill ${k}: the standby did not take over within a minute`)
        ttr.push(took.firstCommitAt! - killedAt)
        detect.push(took.firstCommitAt! - took.startedAt)
        replayed.push(took.replayedRecords)
        await procs[owner]!.exited
        procs[owner] = start(owner)
        owner = standby
      }
      await sleep(1500)
      await load.stop()
      const report = await awaitVerdict(settings, pipeline, { orders: 1, shards: 1 }, eventTimeRule(env), 120_000)
      out(`| ${n} | ${pct(ttr, 0.5)} | ${pct(ttr, 0.95)} | ${pct(ttr, 0.99)} | ${Math.max(...ttr)} | ${pct(detect, 0.5)} | ${pct(detect, 0.95)} | ${pct(replayed, 0.5)} | ${report.lost} | ${report.duplicated} |`)
      samples.push({ keys: n, ttrMs: ttr, detectToCommitMs: detect, replayedRecords: replayed, lost: report.lost, duplicated: report.duplicated, windows: report.windows })
    } finally {
      for (const w of procs) w?.child.kill('SIGKILL')
      await p.stopAll()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ kills, rate, samples }))
  out('\nttr: the owner killed with SIGKILL → the standby\'s first committed transaction as the new owner.')
} finally {
  await runTeardown()
}
