#!/usr/bin/env node
/**
 * The pipeline under load with N random SIGKILLs of OpB shards, each shard
 * restarted at once, then the verifier against the raw input.
 *
 *   npm run chaos -- --kills 10 [--rate 500 --seed 1 --port 29192]
 *
 * Last line: verdict=EXACT|MISMATCH kills=N lost=L duplicated=D late=N … ttr_p50_ms=X ttr_p95_ms=Y
 * (lateness decided by the verifier from the input), exit code 0 only when
 * exact. The time to recover runs from the replacement process being started
 * to the first transaction it commits (restored, changelog replayed, input
 * resumed, output flowing again).
 */
import { parseArgs } from 'node:util'
import { createRng } from '../generator.js'
import { startLoad } from '../load.js'
import { startLocalRun } from '../local-kafka.js'
import { firstCommitAfterRecovery, sleep, waitReady } from '../pipeline.js'
import { awaitVerdict } from '../verdict.js'
import { eventTimeRule } from '@ridepulse/contracts'
import { runTeardown, stopOnSignals } from '../teardown.js'

const { values: args } = parseArgs({
  options: {
    kills: { type: 'string', default: '10' },
    rate: { type: 'string', default: '500' },
    seed: { type: 'string', default: '1' },
    port: { type: 'string', default: '29192' },
  },
})
const kills = Number(args.kills)
if (!Number.isInteger(kills) || kills < 0) {
  console.error('--kills must be a whole number')
  process.exit(2)
}
const windowMs = 5000
const shards = 3
const rng = createRng(Number(args.seed))
const log = (s: string) => process.stderr.write(`${s}\n`)

stopOnSignals()
const { pipeline: p, settings } = startLocalRun('chaos', {
  port: Number(args.port),
  shards,
  httpBase: 28400,
  env: { WINDOW_SIZE_MS: String(windowMs), ALLOWED_LATENESS_MS: '500', OUT_OF_ORDERNESS_MS: '500', IDLE_TIMEOUT_MS: '1500', SNAPSHOT_INTERVAL_MS: '1000', LOG_LEVEL: 'info' },
})
const pipeline = p.opts.pipeline
let code: number
try {
  await p.startAll()
  const opa = p.opa.get(0)!
  const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: shards, ratePerSec: Number(args.rate), zones: 24, seed: Number(args.seed), malformedFraction: 0.01, maxDisorderMs: 300 })
  const ttr: number[] = []
  await sleep(2000)
  for (let k = 0; k < kills; k++) {
    await sleep(300 + rng.int(1700))
    const shard = rng.int(shards)
    await p.killOpb(shard)
    const w = p.startOpb(shard)
    const readyAt = await waitReady(w)
    const firstCommitAt = await firstCommitAfterRecovery(w.port)
    ttr.push(firstCommitAt - w.startedAt)
    log(`kill ${k + 1}/${kills}: shard ${shard} ready after ${readyAt - w.startedAt} ms, first commit after ${firstCommitAt - w.startedAt} ms`)
  }
  await sleep(1500)
  await load.stop()
  const report = await awaitVerdict(settings, pipeline, { orders: shards, shards }, eventTimeRule(p.opts.env ?? {}), 60_000)
  for (const problem of report.problems) log(problem)
  if (opa.child.exitCode !== null) log('OpA exited during the run')
  const q = (f: number) => {
    if (ttr.length === 0) return 0
    const s = [...ttr].sort((a, b) => a - b)
    return s[Math.min(s.length - 1, Math.ceil(f * s.length) - 1)]!
  }
  const exact = report.ok && opa.child.exitCode === null
  log(`windows ${report.windows}, valid events ${report.validEvents}, late ${report.lateEvents} (by idleness ${report.lateByIdle}), ttr_p50_ms=${q(0.5)} ttr_p95_ms=${q(0.95)}`)
  // The last line: the verdict, with lateness decided by the verifier from the input and the rule.
  process.stdout.write(
    `verdict=${exact ? 'EXACT' : 'MISMATCH'} kills=${kills} lost=${report.lost} duplicated=${report.duplicated} late=${report.lateEvents} late_by_idle=${report.lateByIdle} missed_late=${report.missedLate} unjustified_late=${report.unjustifiedLate} ttr_p50_ms=${q(0.5)} ttr_p95_ms=${q(0.95)}\n`,
  )
  code = exact ? 0 : 1
} finally {
  await runTeardown()
}
process.exit(code)
