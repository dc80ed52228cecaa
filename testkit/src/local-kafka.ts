import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { KafkaSettings } from '@ridepulse/kafka'
import { LocalPipeline, type WorkerEnv } from './pipeline.js'
import { onTeardown } from './teardown.js'

const SCRIPT = fileURLToPath(new URL('../../scripts/kafka/kafka.sh', import.meta.url))

/** The Kafka release the local broker runs: the newest Kafka 4 unless `KAFKA_VERSION` names another. */
export function localKafkaVersion(): string {
  return execFileSync('bash', [SCRIPT, 'version'], { encoding: 'utf8' }).trim()
}

/** Starts the project's local broker (fetching it on first use) on a fresh data directory. */
export function startLocalKafka(port: number): { brokers: string; version: string; stop(): void } {
  const data = mkdtempSync(join(tmpdir(), 'ridepulse-kafka-'))
  const args = ['--port', String(port), '--data', data]
  const stop = () => {
    forget()
    execFileSync('bash', [SCRIPT, 'stop', ...args], { stdio: 'inherit' })
  }
  // Registered before the start: a signal during it still stops the broker.
  const forget = onTeardown(stop)
  const out = execFileSync('bash', [SCRIPT, 'start', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  return { brokers: out.trim().split('\n').at(-1)!, version: localKafkaVersion(), stop }
}

export interface LocalRun {
  kafka: ReturnType<typeof startLocalKafka>
  pipeline: LocalPipeline
  settings: KafkaSettings
}

/** A fresh broker and a pipeline of OpA ×1 and `shards` OpB shards on it, with its own topics and volumes. */
export function startLocalRun(name: string, opts: { port: number; shards: number; httpBase: number; env: WorkerEnv }): LocalRun {
  const kafka = startLocalKafka(opts.port)
  const pipeline = new LocalPipeline({
    brokers: kafka.brokers,
    pipeline: `${name}-${Date.now().toString(36)}`,
    shards: opts.shards,
    ordersPartitions: opts.shards,
    opaInstances: 1,
    dataDir: mkdtempSync(join(tmpdir(), `ridepulse-${name}-`)),
    httpBase: opts.httpBase,
    env: opts.env,
  })
  return { kafka, pipeline, settings: { brokers: [kafka.brokers], clientId: `${pipeline.opts.pipeline}-${name}` } }
}
