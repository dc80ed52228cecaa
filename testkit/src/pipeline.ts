import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { WorkerEnvName } from '@ridepulse/contracts'
import { wantsTestHooks } from './hooks.js'
import { killIfOrphaned, onTeardown } from './teardown.js'

// The bundled workers (npm run build), whether this module runs compiled
// (testkit/dist) or from source under the test runner (testkit/src): the
// shipped one, and the one with test hooks, run only when a test asks for one.
const SHIPPED = fileURLToPath(new URL('../../worker/dist/worker.mjs', import.meta.url))
const UNDER_TEST = fileURLToPath(new URL('../dist/worker-under-test.mjs', import.meta.url))

/**
 * A worker's environment as a test or a benchmark writes it: only variables
 * the worker reads (or the worker under test's FAULT and DELIVERY) compile.
 */
export type WorkerEnv = Partial<Record<WorkerEnvName | 'FAULT' | 'DELIVERY' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY', string>>

export interface PipelineOptions {
  brokers: string
  pipeline: string
  shards: number
  ordersPartitions: number
  opaInstances: number
  dataDir: string
  /** Base port: OpA i listens on base + i, OpB shard s on base + 100 + s. */
  httpBase: number
  /** Extra environment for every worker (window sizes, commit interval...). */
  env?: WorkerEnv
  /** Extra environment per OpB shard (a fault, say: FAULT and DELIVERY run the worker with test hooks, see hooks.ts). */
  opbEnv?: (shard: number) => WorkerEnv
}

export interface WorkerProcess {
  name: string
  logFile: string
  port: number
  child: ChildProcess
  startedAt: number
  exited: Promise<number | null>
}

/** Topic names of a pipeline, prefixed so runs never share topics. */
export const topicsFor = (pipeline: string) => ({
  TOPIC_ORDERS: `${pipeline}.orders`,
  TOPIC_ENRICHED: `${pipeline}.orders.enriched`,
  TOPIC_DLQ: `${pipeline}.orders.dlq`,
  TOPIC_OUTPUT: `${pipeline}.orders.output`,
  TOPIC_LATE: `${pipeline}.orders.late`,
  TOPIC_CHANGELOG: `${pipeline}.opb-changelog`,
  TOPIC_SNAPSHOTS: `${pipeline}.opb-snapshots`,
})

/** Runs OpA and OpB as separate processes, the way pods run them: each can be killed alone. */
export class LocalPipeline {
  readonly opa = new Map<number, WorkerProcess>()
  readonly opb = new Map<number, WorkerProcess>()
  readonly topics: ReturnType<typeof topicsFor>

  constructor(readonly opts: PipelineOptions) {
    // Topics the environment names (as the operator renders them) win over the prefixed defaults.
    const named = Object.fromEntries(Object.entries(opts.env ?? {}).filter(([k, v]) => k.startsWith('TOPIC_') && v !== undefined))
    this.topics = { ...topicsFor(opts.pipeline), ...named }
    mkdirSync(join(opts.dataDir, 'logs'), { recursive: true })
    onTeardown(() => this.stopAll())
  }

  #env(): WorkerEnv {
    return {
      KAFKA_BROKERS: this.opts.brokers,
      PIPELINE: this.opts.pipeline,
      SHARDS: String(this.opts.shards),
      ORDERS_PARTITIONS: String(this.opts.ordersPartitions),
      ...this.topics,
      ...this.opts.env,
    }
  }

  #spawn(name: string, port: number, env: WorkerEnv): WorkerProcess {
    const logFile = join(this.opts.dataDir, 'logs', `${name}.log`)
    const log = createWriteStream(logFile, { flags: 'a' })
    const all = { ...this.#env(), ...env, HTTP_PORT: String(port) }
    const child = spawn(process.execPath, [wantsTestHooks(all) ? UNDER_TEST : SHIPPED], {
      env: { ...process.env, ...all },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    killIfOrphaned(child)
    child.stdout!.pipe(log, { end: false })
    child.stderr!.pipe(log, { end: false })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    return { name, logFile, port, child, startedAt: Date.now(), exited }
  }

  /** Starts OpA instance `i`; `port` puts a second process for the same instance beside the first. */
  startOpa(i: number, extra: WorkerEnv = {}, port = this.opts.httpBase + i): WorkerProcess {
    const w = this.#spawn(`opa-${i}`, port, { ROLE: 'opa', OPA_INDEX: String(i), OPA_INSTANCES: String(this.opts.opaInstances), ...extra })
    this.opa.set(i, w)
    return w
  }

  /** Starts shard `shard`; `port` puts a second process for the same shard beside the first. */
  startOpb(shard: number, extra: WorkerEnv = {}, port = this.opts.httpBase + 100 + shard): WorkerProcess {
    const w = this.#spawn(`opb-${shard}`, port, {
      ROLE: 'opb',
      SHARD: String(shard),
      DATA_DIR: join(this.opts.dataDir, `opb-${shard}`),
      ...this.opts.opbEnv?.(shard),
      ...extra,
    })
    this.opb.set(shard, w)
    return w
  }

  async startAll(): Promise<void> {
    for (let i = 0; i < this.opts.opaInstances; i++) this.startOpa(i)
    for (let s = 0; s < this.opts.shards; s++) this.startOpb(s)
    await Promise.all([...this.opa.values(), ...this.opb.values()].map((w) => waitReady(w)))
  }

  /** kill -9 of one OpB shard; resolves once the process is gone. */
  async killOpb(shard: number): Promise<void> {
    const w = this.opb.get(shard)
    if (!w) return
    w.child.kill('SIGKILL')
    await w.exited
  }

  async stopAll(): Promise<void> {
    const all = [...this.opa.values(), ...this.opb.values()]
    for (const w of all) if (w.child.exitCode === null) w.child.kill('SIGTERM')
    await Promise.all(
      all.map((w) =>
        Promise.race([w.exited, sleep(10_000).then(() => (w.child.kill('SIGKILL'), w.exited))]),
      ),
    )
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function getJson<T = Record<string, unknown>>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  if (!res.ok) throw new Error(`${path} on port ${port}: HTTP ${res.status}`)
  return (await res.json()) as T
}

/** Waits until the worker answers /readyz; fails fast if it exits first. */
export async function waitReady(w: WorkerProcess, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void w.exited.then(() => (exited = true))
  while (Date.now() < deadline) {
    if (exited) {
      await sleep(100) // let the log stream flush
      const tail = existsSync(w.logFile) ? readFileSync(w.logFile, 'utf8').trim().split('\n').slice(-5).join('\n') : ''
      throw new Error(`${w.name} exited with code ${w.child.exitCode} before it was ready; last lines of its log:\n${tail}`)
    }
    try {
      const res = await fetch(`http://127.0.0.1:${w.port}/readyz`)
      if (res.ok) return Date.now()
    } catch {
      // not listening yet
    }
    await sleep(20)
  }
  throw new Error(`${w.name} not ready after ${timeoutMs} ms`)
}

/** When a restarted OpB shard committed its first transaction: its output flowing again. */
export async function firstCommitAfterRecovery(port: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const st = await getJson<{ lastRecovery: { firstCommitAt: number | null } | null }>(port, '/status')
    if (st.lastRecovery?.firstCommitAt) return st.lastRecovery.firstCommitAt
    await sleep(20)
  }
  throw new Error(`no commit within ${timeoutMs} ms of the recovery on port ${port}`)
}
