/**
 * The pipeline test harness for vitest (imported as `@ridepulse/testkit/vitest`):
 * a pipeline of its own per test on the test broker, cleaned up after each
 * test, with its workers' logs when the test failed.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, inject } from 'vitest'
import { eventTimeRule, readDeadLetter, type ReadDeadLetter } from '@ridepulse/contracts'
import { awaitVerdict, type LoadOptions, LocalPipeline, type PipelineOptions, readWholeTopic, startLoad, type VerifyReport, type WorkerEnv } from './index.js'

/** Short windows so a test sees many of them closed within seconds. */
export const FAST_WINDOWS: WorkerEnv = {
  WINDOW_SIZE_MS: '2000',
  ALLOWED_LATENESS_MS: '500',
  OUT_OF_ORDERNESS_MS: '500',
  IDLE_TIMEOUT_MS: '1500',
  SNAPSHOT_INTERVAL_MS: '700',
  SNAPSHOT_FULL_EVERY: '3',
  COMMIT_INTERVAL_MS: '100',
  LOG_LEVEL: 'info',
}

let ports = 21000 + Math.floor(Math.random() * 200) * 10

/** Cleanups of the pipelines the running test started. */
let started: ((failed: boolean) => Promise<void>)[] = []

/**
 * Registers, for the calling test file, the cleanup of every pipeline a test
 * started: after each test, whether it passed or failed (then with logs).
 */
export function cleanUpPipelinesAfterEach(): void {
  afterEach(async (ctx) => {
    const cleanups = started
    started = []
    for (const c of cleanups) await c(ctx.task.result?.state === 'fail')
  })
}

/** A pipeline of its own on the test broker, or on `opts.brokers` (a cluster's bootstrap list). */
export function testPipeline(name: string, opts: Partial<PipelineOptions> = {}, harness: { brokers?: string } = {}) {
  const pipeline = `${name}-${Date.now().toString(36)}`
  const brokers = opts.brokers ?? inject('kafkaBrokers')
  // The load and the verifier may use another listener of the same brokers than the workers (plaintext beside TLS).
  const settingsFor = (who: string) => ({ brokers: (harness.brokers ?? brokers).split(','), clientId: `${name}-${who}` })
  const dataDir = mkdtempSync(join(tmpdir(), `ridepulse-${name}-`))
  ports += 300
  const p = new LocalPipeline({
    brokers,
    pipeline,
    shards: 2,
    ordersPartitions: 2,
    opaInstances: 1,
    dataDir,
    httpBase: ports,
    env: FAST_WINDOWS,
    ...opts,
  })
  const t = {
    p,
    dataDir,
    settings: settingsFor('test'),
    load(o: Partial<LoadOptions> = {}) {
      return startLoad({
        settings: settingsFor('load'),
        topic: p.topics.TOPIC_ORDERS,
        partitions: p.opts.ordersPartitions,
        ratePerSec: 400,
        zones: 12,
        seed: 7,
        malformedFraction: 0.02,
        maxDisorderMs: 300,
        ...o,
      })
    },
    /** Polls the verifier until every window is final and exact, or the time is up; returns the last report. */
    verifyWhenFinal(timeoutMs = 30_000): Promise<VerifyReport> {
      return awaitVerdict(settingsFor('verify'), p.topics, { orders: p.opts.ordersPartitions, shards: p.opts.shards }, eventTimeRule(p.opts.env ?? {}), timeoutMs)
    },
    /** Every record of the dead-letter topic, read back; a record that is not a dead letter fails the test. */
    async deadLetters(): Promise<ReadDeadLetter[]> {
      const records = await readWholeTopic(t.settings, p.topics.TOPIC_DLQ, 1)
      return records.map((r) => {
        const d = readDeadLetter(r.headers, r.value)
        if (!d) throw new Error(`dead-letter offset ${r.offset} carries no dead-letter headers`)
        return d
      })
    },
    /**
     * Stops the pipeline and deletes its data. After a failed test, each
     * worker's warnings and errors and the end of its log go to stderr first:
     * the data directory, and the logs in it, are gone afterwards.
     */
    async cleanup(failed = false) {
      await p.stopAll()
      if (failed) {
        const logs = join(dataDir, 'logs')
        for (const f of readdirSync(logs).sort()) {
          const lines = readFileSync(join(logs, f), 'utf8').trimEnd().split('\n')
          const warnings = lines.slice(0, -20).filter((l) => !l.startsWith('{"level":30') && !l.startsWith('{"level":20'))
          process.stderr.write(`--- ${pipeline}: ${f}, warnings and errors, then its last 20 lines\n${[...warnings, '…', ...lines.slice(-20)].join('\n')}\n`)
        }
      }
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
  started.push((failed) => t.cleanup(failed))
  return t
}
