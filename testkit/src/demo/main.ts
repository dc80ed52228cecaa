#!/usr/bin/env node
/**
 * The main job, locally: a real Kafka broker, OpA, three OpB shards and city
 * traffic; a live board in the terminal; one shard killed with SIGKILL and
 * brought back, recovering from its own snapshot while OpA keeps flowing;
 * then the verifier's verdict against the raw input.
 *
 *   npm run demo [-- --seconds 45 --rate 400 --zones 24 --window-ms 10000 --port 29092 --board-port 8090 --linger]
 *
 * The dispatch board (board/) runs beside it: its address is printed first.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { OutputFollower } from '../output.js'
import { renderBoard } from './board.js'
import { startLoad } from '../load.js'
import { startLocalRun } from '../local-kafka.js'
import { firstCommitAfterRecovery, getJson, sleep, waitReady } from '../pipeline.js'
import { awaitVerdict } from '../verdict.js'
import { eventTimeRule } from '@ridepulse/contracts'
import { killIfOrphaned, onTeardown, runTeardown, stopOnSignals } from '../teardown.js'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '45' },
    rate: { type: 'string', default: '400' },
    zones: { type: 'string', default: '24' },
    'window-ms': { type: 'string', default: '10000' },
    port: { type: 'string', default: '29092' },
    'board-port': { type: 'string', default: '8090' },
    /** Keep the pipeline and the board up after the verdict, until Ctrl-C. */
    linger: { type: 'boolean', default: false },
  },
})
const seconds = Number(args.seconds)
const windowMs = Number(args['window-ms'])
const tty = process.stdout.isTTY
const say = (s: string) => process.stdout.write(`${s}\n`)

say(`starting a local Kafka broker on 127.0.0.1:${args.port} …`)
const shards = 3
stopOnSignals()
const { pipeline: p, settings } = startLocalRun('demo', {
  port: Number(args.port),
  shards,
  httpBase: 28000,
  env: {
    WINDOW_SIZE_MS: String(windowMs),
    ALLOWED_LATENESS_MS: String(Math.round(windowMs / 10)),
    OUT_OF_ORDERNESS_MS: '1000',
    IDLE_TIMEOUT_MS: '2000',
    SNAPSHOT_INTERVAL_MS: '2000',
    LOG_LEVEL: 'info',
  },
})
const pipeline = p.opts.pipeline
let exitCode: number
let boardUrl: string
try {
  say(`pipeline ${pipeline}: OpA ×1, OpB ×${shards}; worker logs in ${join(p.opts.dataDir, 'logs')}`)
  await p.startAll()
  // The dispatch board (board/): the live web page of the same pipeline.
  const boardMain = join(import.meta.dirname, '..', '..', '..', 'board', 'dist', 'main.js')
  const web = spawn(process.execPath, [boardMain], {
    env: {
      ...process.env,
      KAFKA_BROKERS: settings.brokers.join(','),
      TOPIC_OUTPUT: p.topics.TOPIC_OUTPUT,
      SHARDS: String(shards),
      WORKER_STATUS_URLS: Array.from({ length: shards }, (_, s) => `${s}=http://127.0.0.1:${p.opts.httpBase + 100 + s}`).join(','),
      HTTP_PORT: args['board-port'],
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  })
  killIfOrphaned(web)
  onTeardown(() => web.kill('SIGTERM'))
  boardUrl = `http://127.0.0.1:${args['board-port']}/`
  say(`dispatch board: ${boardUrl} (open it in a browser)`)
  const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: shards, ratePerSec: Number(args.rate), zones: Number(args.zones), seed: 42, malformedFraction: 0.01, maxDisorderMs: 500 })
  const board = new OutputFollower(settings, p.topics.TOPIC_OUTPUT, shards).start()
  const opa = p.opa.get(0)!
  const killAt = Date.now() + seconds * 400
  const endAt = Date.now() + seconds * 1000
  let recovery = 'no shard killed yet'
  let killed = false
  while (Date.now() < endAt) {
    await sleep(1000)
    if (!killed && Date.now() >= killAt) {
      killed = true
      await p.killOpb(1)
      const w = p.startOpb(1)
      const readyAt = await waitReady(w)
      const firstCommitAt = await firstCommitAfterRecovery(w.port)
      const st = await getJson<{ lastRecovery: { snapshot: { snapshotId: string; kind: string } | null; replayedRecords: number; phasesMs: Record<string, number> } }>(w.port, '/status')
      const r = st.lastRecovery
      recovery =
        `shard 1 killed (SIGKILL) and restarted: ready ${readyAt - w.startedAt} ms and first commit ${firstCommitAt - w.startedAt} ms after its process started; ` +
        `snapshot ${r.snapshot ? `${r.snapshot.snapshotId} (${r.snapshot.kind})` : 'none'}, changelog records replayed ${r.replayedRecords}, ` +
        `phases ${Object.entries(r.phasesMs).map(([k, v]) => `${k} ${v} ms`).join(', ')}; OpA still the same process: ${opa.child.exitCode === null}`
    }
    const left = Math.max(0, Math.round((endAt - Date.now()) / 1000))
    const screen = `${renderBoard(board.latest, { windows: 2, zones: 8 })}\n\n${recovery}\nboard ${boardUrl} · events sent ${load.stats.sent} (malformed ${load.stats.malformed}); ${left}s of traffic left`
    if (tty) process.stdout.write(`\x1b[2J\x1b[H${screen}\n`)
    else if (Math.round((endAt - Date.now()) / 1000) % 10 === 0) say(screen)
  }
  const sent = await load.stop()
  say(`\ntraffic stopped after ${sent.sent} events; waiting for every window to be final …`)
  const report = await awaitVerdict(settings, pipeline, { orders: shards, shards }, eventTimeRule(p.opts.env ?? {}), 60_000)
  await sleep(500) // the board's follower reads what the verifier saw
  say(renderBoard(board.latest, { windows: 1, zones: 8 }))
  say(`\n${recovery}`)
  say(
    `verifier: ${report.ok ? 'EXACT' : 'MISMATCH'} — windows ${report.windows}, finals ${report.finals}, valid events ${report.validEvents}, ` +
      `invalid ${report.invalidEvents} (in the dead-letter topic), late ${report.lateEvents}, lost ${report.lost}, duplicated ${report.duplicated}`,
  )
  for (const problem of report.problems) say(`  ${problem}`)
  await board.stop()
  exitCode = report.ok ? 0 : 1
  if (args.linger) {
    say(`\nthe pipeline and the board stay up at ${boardUrl}; Ctrl-C (or SIGTERM) stops them all`)
    await new Promise(() => undefined) // until a signal: its handler stops everything and exits
  }
} finally {
  await runTeardown()
}
process.exit(exitCode)
