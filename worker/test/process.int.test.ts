import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { setTimeout as sleep } from 'node:timers/promises'
import { topicsFor, waitReady } from '@ridepulse/testkit'

// The bundled worker, as the image runs it.
const MAIN = fileURLToPath(new URL('../dist/worker.mjs', import.meta.url))
const dataDir = mkdtempSync(join(tmpdir(), 'ridepulse-process-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

interface Exit {
  code: number | null
  output: string
  /** From the SIGTERM (or the start, without one) to the exit. */
  ms: number
}

/**
 * The worker with `env` alone (no inherited environment), its output kept.
 * `exit` waits for it to end by itself, `term` sends SIGTERM first; either
 * kills it after `limitMs`, which the caller sees as a null code.
 */
function startWorker(env: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', HTTP_PORT: '0', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (b: Buffer) => (output += b.toString()))
  child.stderr.on('data', (b: Buffer) => (output += b.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const exit = async (limitMs: number, from = Date.now()): Promise<Exit> => {
    const limit = setTimeout(() => child.kill('SIGKILL'), limitMs)
    const code = await exited
    clearTimeout(limit)
    return { code, output, ms: Date.now() - from }
  }
  return {
    name: `${env.ROLE}`,
    logFile: '',
    child,
    startedAt: Date.now(),
    exited,
    exit,
    term(limitMs: number): Promise<Exit> {
      const from = Date.now()
      child.kill('SIGTERM')
      return exit(limitMs, from)
    },
  }
}

describe('the worker process', () => {
  it.each<[string, Record<string, string>, RegExp]>([
    ['an empty SHARD', { ROLE: 'opb', SHARD: '', DATA_DIR: dataDir }, /SHARD: must be a whole number/],
    ['a blank SHARD', { ROLE: 'opb', SHARD: '  ', DATA_DIR: dataDir }, /SHARD: must be a whole number/],
    ['SHARD equal to SHARDS', { ROLE: 'opb', SHARD: '3', SHARDS: '3', DATA_DIR: dataDir }, /SHARD: must be below SHARDS \(3\)/],
    ['an OPA_INDEX past OPA_INSTANCES', { ROLE: 'opa', OPA_INDEX: '1', OPA_INSTANCES: '1' }, /OPA_INDEX: must be below OPA_INSTANCES \(1\)/],
    ['an OpA instance that would own no partition', { ROLE: 'opa', OPA_INDEX: '3', OPA_INSTANCES: '4', ORDERS_PARTITIONS: '3' }, /OPA_INDEX: instance 3 would own no partition/],
    ['a checkpoint interval past what the transaction timeout allows', { ROLE: 'opb', SHARD: '0', DATA_DIR: dataDir, SNAPSHOT_MODE: 'checkpoint', SNAPSHOT_INTERVAL_MS: '30000' }, /SNAPSHOT_INTERVAL_MS: .*the transaction timeout is 60000 ms/],
    ['a negative future skew', { ROLE: 'opa', OPA_INDEX: '0', MAX_FUTURE_SKEW_MS: '-1' }, /MAX_FUTURE_SKEW_MS/],
  ])('exits with code 2 on %s, naming the variable, before it connects to anything', async (_what, env, message) => {
    const r = await startWorker({ KAFKA_BROKERS: '127.0.0.1:1', ...env }).exit(20_000)
    expect(r.code).toBe(2)
    expect(r.output).toMatch(message)
  })

  it('OpA and OpB given SIGTERM while their broker does not answer stop within their shutdown timeout', async () => {
    // A broker of its own: it is frozen (SIGSTOP) under the running workers, so every request hangs.
    const script = inject('kafkaScript')
    const port = inject('kafkaPort') + 2
    const data = join(dataDir, 'kafka')
    const args = ['--port', String(port), '--data', data]
    const brokers = execFileSync('bash', [script, 'start', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!
    const pid = Number(readFileSync(join(data, 'kafka.pid'), 'utf8'))
    try {
      const pipeline = `frozen-${Date.now().toString(36)}`
      const common = { KAFKA_BROKERS: brokers, PIPELINE: pipeline, ...topicsFor(pipeline), SHARDS: '1', ORDERS_PARTITIONS: '1', SHUTDOWN_TIMEOUT_MS: '3000', LOG_LEVEL: 'info' }
      const workers = [
        startWorker({ ...common, ROLE: 'opa', OPA_INDEX: '0', HTTP_PORT: String(port + 10) }),
        startWorker({ ...common, ROLE: 'opb', SHARD: '0', DATA_DIR: join(dataDir, 'opb'), HTTP_PORT: String(port + 11) }),
      ]
      for (const [i, w] of workers.entries()) await waitReady({ ...w, port: port + 10 + i }, 60_000)
      process.kill(pid, 'SIGSTOP')
      await sleep(1000)
      const exits = await Promise.all(workers.map((w) => w.term(30_000)))
      for (const r of exits) {
        expect(r.code, r.output.slice(-2000)).not.toBeNull() // not the SIGKILL of the limit
        expect(r.ms).toBeLessThan(8_000)
        expect(r.output).toMatch(/"msg":"stopping"/)
      }
    } finally {
      process.kill(pid, 'SIGCONT')
      execFileSync('bash', [script, 'stop', ...args], { stdio: 'inherit' })
    }
  })
})

describe('the demo', () => {
  it('lingering after its verdict, given SIGTERM, stops its broker, workers and board before it exits', async () => {
    const port = inject('kafkaPort') + 4
    const boardPort = port + 7
    const demo = spawn(process.execPath, [DEMO, '--seconds', '5', '--linger', '--port', String(port), '--board-port', String(boardPort)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    demo.stdout.on('data', (b: Buffer) => (output += b.toString()))
    demo.stderr.on('data', (b: Buffer) => (output += b.toString()))
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)))
    try {
      const deadline = Date.now() + 150_000
      while (!/stay up/.test(output) && demo.exitCode === null && Date.now() < deadline) await sleep(200)
      expect(output, output.slice(-3000)).toMatch(/verifier: EXACT/)
      expect(output).toMatch(/stay up/)
      const ports = [port, boardPort, DEMO_HTTP_BASE, ...[0, 1, 2].map((s) => DEMO_HTTP_BASE + 100 + s)]
      expect(await Promise.all(ports.map(listening))).toEqual(ports.map(() => true))
      demo.kill('SIGTERM')
      const code = await Promise.race([exited, sleep(60_000).then(() => 'still running')])
      expect(code).toBe(143)
      expect(await Promise.all(ports.map(listening))).toEqual(ports.map(() => false))
    } finally {
      if (demo.exitCode === null) demo.kill('SIGKILL')
    }
  })
})

const DEMO = fileURLToPath(new URL('../../testkit/dist/demo/main.js', import.meta.url))
/** The demo's workers listen from here (OpA 0 on it, OpB shard s on it + 100 + s). */
const DEMO_HTTP_BASE = 28000

/** Whether something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
