#!/usr/bin/env node
/**
 * Every benchmark on the local broker, one JSON file per run under
 * bench/results/, and docs/benchmarks.md regenerated from them:
 *
 *   npm run bench -- --quick      # minutes; CI runs it
 *   npm run bench -- --full       # the figures the doc reports
 *   npm run bench -- --only steady,ceiling --report-only
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startLocalKafka, stopOnSignals } from '@ridepulse/testkit'
import { brokerCeiling } from './experiments/ceiling.js'
import { exactlyOnce } from './experiments/eos.js'
import { kafkaStreamsPeer } from './experiments/kstreams/index.js'
import { pipelineSideBySide } from './experiments/kstreams/pipeline.js'
import { localRecovery } from './experiments/recovery.js'
import { snapshotsUnderLoad } from './experiments/snapshots.js'
import { steadyState } from './experiments/steady.js'
import { standbyFailover } from './experiments/standby/index.js'
import { localVsGlobal, snapshotModes } from './experiments/strategies.js'
import { recoveryUnderLoad } from './experiments/underload.js'
import { describeMachine } from './machine.js'
import { composeRuns, latestRun, runsOf, saveRun, type BenchRun, type Experiment } from './results.js'
import { writeReport } from './report.js'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    only: { type: 'string' },
    'report-only': { type: 'boolean', default: false },
    port: { type: 'string', default: '29492' },
  },
})
const root = join(import.meta.dirname, '..', '..')
const mode: 'quick' | 'full' = args.full ? 'full' : 'quick'
const only = args.only ? new Set(args.only.split(',')) : undefined
const say = (s: string) => process.stdout.write(`${s}\n`)
/** One-minute windows in the full run, as in production; ten seconds in the quick one, so its verdicts come sooner. */
const windowMs = mode === 'full' ? 60_000 : 10_000

if (!args['report-only']) {
  const plan: Record<string, (brokers: string) => Promise<Experiment> | Experiment> = {
    ceiling: (brokers) => brokerCeiling({ kafkaScript: join(root, 'scripts', 'kafka', 'kafka.sh'), brokers, records: mode === 'full' ? 1_000_000 : 200_000, recordSize: 150 }),
    recovery: () => localRecovery({ root, keys: mode === 'full' ? [10_000, 100_000, 1_000_000] : [10_000, 100_000], trials: mode === 'full' ? 20 : 5, tail: 5000, port: Number(args.port) + 100 }),
    underload: (brokers) => recoveryUnderLoad({ brokers, sizes: mode === 'full' ? [10_000, 100_000, 1_000_000, 10_000_000] : [10_000, 100_000], kills: mode === 'full' ? 100 : 2, pressureKills: mode === 'full' ? 30 : 2, backlog: mode === 'full' ? 200_000 : 30_000, drains: mode === 'full' ? 3 : 1, httpBase: 24_000, say }),
    standby: (brokers) => standbyFailover({ root, brokers, kills: mode === 'full' ? 50 : 5, theirKills: mode === 'full' ? 10 : 2, rate: mode === 'full' ? 2000 : 500, backlog: mode === 'full' ? 300_000 : 50_000, costRounds: mode === 'full' ? 3 : 1, sizes: mode === 'full' ? [10_000, 100_000, 1_000_000] : [10_000], httpBase: 24_500 }),
    snapshots: (brokers) => snapshotsUnderLoad({ brokers, sizes: mode === 'full' ? [1_000_000, 10_000_000] : [100_000], rate: mode === 'full' ? 10_000 : 2000, seconds: mode === 'full' ? 120 : 10, snapshotIntervalMs: mode === 'full' ? 2000 : 1000, httpBase: 24_800, say }),
    modes: (brokers) => snapshotModes({ brokers, rate: mode === 'full' ? 2000 : 500, warmupSeconds: mode === 'full' ? 30 : 6, kills: mode === 'full' ? 20 : 3, httpBase: 23_000, windowMs }),
    strategies: (brokers) => localVsGlobal({ brokers, rate: mode === 'full' ? 2000 : 500, warmupSeconds: mode === 'full' ? 20 : 5, kills: mode === 'full' ? 20 : 3, httpBase: 23_000, windowMs }),
    eos: (brokers) => exactlyOnce({ brokers, trials: mode === 'full' ? 5 : 1, rate: mode === 'full' ? 1000 : 500, backlog: mode === 'full' ? 200_000 : 30_000, drains: mode === 'full' ? 10 : 1, httpBase: 26_000 }),
    steady: (brokers) => steadyState({ kafka: { brokers }, shards: 2, backlog: mode === 'full' ? 200_000 : 30_000, seconds: mode === 'full' ? 30 : 8, levels: [0.25, 0.5, 0.75, 1], httpBase: 25_000, windowMs, ceiling: { kafkaScript: join(root, 'scripts', 'kafka', 'kafka.sh'), pairs: mode === 'full' ? 5 : 1, records: mode === 'full' ? 1_000_000 : 200_000 } }),
    kspipeline: (brokers) => pipelineSideBySide({ root, brokers, shards: 2, backlog: mode === 'full' ? 200_000 : 30_000, rounds: mode === 'full' ? 3 : 1, levels: mode === 'full' ? [0.25, 0.5, 0.75] : [0.5], seconds: mode === 'full' ? 30 : 8, keys: mode === 'full' ? 1_000_000 : 10_000, kills: mode === 'full' ? 10 : 1, httpBase: 27_600, say }),
    kstreams: (brokers) => kafkaStreamsPeer({ root, brokers, partitions: 2, backlog: mode === 'full' ? 1_000_000 : 100_000, rounds: mode === 'full' ? 3 : 1, rate: mode === 'full' ? 5000 : 2000, latencySeconds: mode === 'full' ? 30 : 10, keys: mode === 'full' ? [10_000, 100_000, 1_000_000] : [10_000, 100_000], builds: mode === 'full' ? 2 : 1, kills: mode === 'full' ? 3 : 2, liveRate: 200, snapshotIntervalMs: mode === 'full' ? 2000 : 1000, httpBase: 27_300 }),
  }
  stopOnSignals()
  const kafka = startLocalKafka(Number(args.port))
  const run: BenchRun = { id: new Date().toISOString().replace(/[:.]/g, '-'), mode, startedAt: new Date().toISOString(), finishedAt: '', machine: describeMachine(kafka.version), experiments: {} }
  try {
    for (const [name, fn] of Object.entries(plan)) {
      if (only && !only.has(name)) continue
      say(`bench: ${name} (${mode}) …`)
      const t0 = Date.now()
      try {
        run.experiments[name] = await fn(kafka.brokers)
      } catch (err) {
        // A failed experiment is reported as failed; the others still run.
        run.experiments[name] = { title: name, method: '', figures: [], error: err instanceof Error ? err.message : String(err) }
        say(`bench: ${name} failed: ${String(err)}`)
      }
      say(`bench: ${name} done in ${Math.round((Date.now() - t0) / 1000)} s`)
    }
  } finally {
    kafka.stop()
  }
  run.finishedAt = new Date().toISOString()
  say(`bench: results in ${saveRun(root, run)}`)
  const failed = Object.entries(run.experiments).filter(([, e]) => e.error)
  if (failed.length) process.exitCode = 1
}

const notes = readFileSync(join(root, 'bench', 'NOTES.md'), 'utf8').replace(/^<!--.*?-->\s*/s, '')
const file = await writeReport(root, { full: composeRuns(runsOf(root, 'full')), quick: latestRun(root, 'quick') }, notes)
say(`bench: ${file} regenerated`)
