#!/usr/bin/env node
/**
 * The pipeline under load with N random SIGKILLs of OpB shards, then the
 * verifier against the raw input.
 *
 *   npm run chaos -- --kills 10 [--standby --rate 500 --seed 1 --port 29192 --results]
 *
 * Without --standby each killed shard's process is started again at once
 * and recovers locally; with --standby every shard runs as a pair (owner and
 * hot standby, STANDBY_ENABLED), the owner is the one killed, its standby
 * takes the shard over and the killed process comes back as the new standby.
 *
 * Last line: verdict=EXACT|MISMATCH kills=N lost=L duplicated=D late=N … ttr_p50_ms=X ttr_p95_ms=Y
 * (lateness decided by the verifier from the input), exit code 0 only when
 * exact. The time to recover runs from the kill to the first transaction the
 * shard's new owner commits (restored or taken over, input resumed, output
 * flowing again). --results writes every kill and the verdict to
 * bench/results/<id>-chaos-<mode>.json, which `npm run bench` renders in
 * docs/benchmarks.md.
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createRng } from '../generator.js'
import { startLoad } from '../load.js'
import { startLocalRun } from '../local-kafka.js'
import { firstCommitAfterRecovery, getJson, sleep, waitReady, type LocalPipeline, type WorkerProcess } from '../pipeline.js'
import { awaitVerdict } from '../verdict.js'
import { eventTimeRule } from '@ridepulse/contracts'
import { runTeardown, stopOnSignals } from '../teardown.js'
import { currentCommit, describeHost, saveResultsFile, type ChaosRun } from '../results-files.js'

const { values: args } = parseArgs({
  options: {
    kills: { type: 'string', default: '10' },
    rate: { type: 'string', default: '500' },
    seed: { type: 'string', default: '1' },
    port: { type: 'string', default: '29192' },
    standby: { type: 'boolean', default: false },
    results: { type: 'boolean', default: false },
  },
})
const kills = Number(args.kills)
if (!Number.isInteger(kills) || kills < 0) {
  console.error('--kills must be a whole number')
  process.exit(2)
}
const windowMs = 5000
const shards = 3
const httpBase = 28400
const rng = createRng(Number(args.seed))
const log = (s: string) => process.stderr.write(`${s}\n`)
const standbyEnv = args.standby ? { STANDBY_ENABLED: 'true', STANDBY_HEARTBEAT_MS: '100', STANDBY_LEASE_MS: '1000' } : {}

/** One kill: which shard, and the kill → first commit of its new owner. */
interface Kill {
  shard: number
  ttrMs: number
  /** With --standby: the standby's own detection of the death → its first commit, and what it detected. */
  takeover?: { detectToCommitMs: number; reason: string }
}

/** Kills a shard's process and starts it again at once; it recovers from its own volume. */
async function killAndRestart(p: LocalPipeline, shard: number): Promise<Kill> {
  const killedAt = Date.now()
  await p.killOpb(shard)
  const w = p.startOpb(shard)
  await waitReady(w)
  return { shard, ttrMs: (await firstCommitAfterRecovery(w.port)) - killedAt }
}

interface TakeoverView {
  phase: string
  lastRecovery: { startedAt: number; firstCommitAt: number | null; promotion?: { reason: string } } | null
}

/** Every shard as an owner and a standby, each process on a volume of its own; kills go to the owner. */
class Pairs {
  readonly procs: WorkerProcess[][] = []
  readonly owner: number[] = []

  constructor(private readonly p: LocalPipeline) {}

  #port = (shard: number, slot: number) => httpBase + 200 + 2 * shard + slot
  #start(shard: number, slot: number): WorkerProcess {
    const w = this.p.startOpb(shard, { DATA_DIR: join(this.p.opts.dataDir, `opb-${shard}-${slot}`), STANDBY_SLOT: String(slot) }, this.#port(shard, slot))
    this.procs[shard]![slot] = w
    return w
  }

  async start(): Promise<void> {
    for (let s = 0; s < shards; s++) {
      this.procs[s] = []
      this.owner[s] = 0
      this.#start(s, 0)
      this.#start(s, 1)
    }
    await Promise.all(this.procs.flat().map((w) => waitReady(w, 60_000)))
  }

  async killOwner(shard: number): Promise<Kill> {
    const owner = this.owner[shard]!
    const standby = 1 - owner
    await waitReady(this.procs[shard]![standby]!, 60_000)
    const killedAt = Date.now()
    this.procs[shard]![owner]!.child.kill('SIGKILL')
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(10)) {
      const r = (await getJson<TakeoverView>(this.#port(shard, standby), '/status').catch(() => undefined))?.lastRecovery
      if (r?.firstCommitAt && r.startedAt >= killedAt - 5) {
        await this.procs[shard]![owner]!.exited
        this.#start(shard, owner)
        this.owner[shard] = standby
        return { shard, ttrMs: r.firstCommitAt - killedAt, takeover: { detectToCommitMs: r.firstCommitAt - r.startedAt, reason: r.promotion?.reason ?? 'none' } }
      }
    }
    throw new Error(`shard ${shard}: the standby did not take over within a minute of the owner's kill`)
  }

  async stop(): Promise<void> {
    const all = this.procs.flat()
    for (const w of all) if (w.child.exitCode === null) w.child.kill('SIGTERM')
    await Promise.all(all.map((w) => w.exited))
  }
}

stopOnSignals()
const { pipeline: p, settings } = startLocalRun('chaos', {
  port: Number(args.port),
  shards,
  httpBase,
  env: { WINDOW_SIZE_MS: String(windowMs), ALLOWED_LATENESS_MS: '500', OUT_OF_ORDERNESS_MS: '500', IDLE_TIMEOUT_MS: '1500', SNAPSHOT_INTERVAL_MS: '1000', LOG_LEVEL: 'info', ...standbyEnv },
})
const pipeline = p.opts.pipeline
const startedAt = new Date().toISOString()
const pairs = args.standby ? new Pairs(p) : undefined
let code: number
try {
  const opa = p.startOpa(0)
  if (pairs) await pairs.start()
  else for (let s = 0; s < shards; s++) p.startOpb(s)
  await Promise.all([opa, ...p.opb.values()].map((w) => waitReady(w)))
  const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: shards, ratePerSec: Number(args.rate), zones: 24, seed: Number(args.seed), malformedFraction: 0.01, maxDisorderMs: 300 })
  const done: Kill[] = []
  await sleep(2000)
  for (let k = 0; k < kills; k++) {
    await sleep(300 + rng.int(1700))
    const shard = rng.int(shards)
    const kill = pairs ? await pairs.killOwner(shard) : await killAndRestart(p, shard)
    done.push(kill)
    log(`kill ${k + 1}/${kills}: shard ${shard}, first commit of its new owner ${kill.ttrMs} ms after the kill${kill.takeover ? ` (standby took over: ${kill.takeover.reason}, ${kill.takeover.detectToCommitMs} ms from detection)` : ''}`)
  }
  await sleep(1500)
  await load.stop()
  const report = await awaitVerdict(settings, pipeline, { orders: shards, shards }, eventTimeRule(p.opts.env ?? {}), 60_000)
  for (const problem of report.problems) log(problem)
  if (opa.child.exitCode !== null) log('OpA exited during the run')
  const ttr = done.map((x) => x.ttrMs)
  const q = (f: number) => {
    if (ttr.length === 0) return 0
    const s = [...ttr].sort((a, b) => a - b)
    return s[Math.min(s.length - 1, Math.ceil(f * s.length) - 1)]!
  }
  const exact = report.ok && opa.child.exitCode === null
  log(`windows ${report.windows}, valid events ${report.validEvents}, late ${report.lateEvents} (by idleness ${report.lateByIdle}), ttr_p50_ms=${q(0.5)} ttr_p95_ms=${q(0.95)}`)
  if (args.results) {
    const root = join(import.meta.dirname, '..', '..', '..')
    const run: ChaosRun = {
      id: startedAt.replace(/[:.]/g, '-'), kind: 'chaos', startedAt, commit: currentCommit(root), host: describeHost(),
      mode: args.standby ? 'standby' : 'local', shards, rate: Number(args.rate), seed: Number(args.seed), exact, kills: done,
      verdict: { windows: report.windows, validEvents: report.validEvents, lost: report.lost, duplicated: report.duplicated, lateEvents: report.lateEvents },
    }
    log(`results in ${saveResultsFile(root, run)}`)
  }
  // The last line: the verdict, with lateness decided by the verifier from the input and the rule.
  process.stdout.write(
    `verdict=${exact ? 'EXACT' : 'MISMATCH'} kills=${kills} lost=${report.lost} duplicated=${report.duplicated} late=${report.lateEvents} late_by_idle=${report.lateByIdle} missed_late=${report.missedLate} unjustified_late=${report.unjustifiedLate} ttr_p50_ms=${q(0.5)} ttr_p95_ms=${q(0.95)}\n`,
  )
  code = exact ? 0 : 1
} finally {
  await pairs?.stop()
  await runTeardown()
}
process.exit(code)
