import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { KafkaSettings } from '@ridepulse/kafka'
import { LocalPipeline, type WorkerEnv } from './pipeline.js'
import { onTeardown, stopIfOrphaned } from './teardown.js'

const SCRIPT = fileURLToPath(new URL('../../scripts/kafka/kafka.sh', import.meta.url))
const CERTS = fileURLToPath(new URL('../../scripts/kafka/certs.sh', import.meta.url))

const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`
/** The shell command that stops a broker started with `args`. */
const stopCommand = (args: string[]) => ['bash', SCRIPT, 'stop', ...args].map(quote).join(' ')

/** The Kafka release the local broker runs: the newest Kafka 4 unless `KAFKA_VERSION` names another. */
export function localKafkaVersion(): string {
  return execFileSync('bash', [SCRIPT, 'version'], { encoding: 'utf8' }).trim()
}

/** Starts the project's local broker (fetching it on first use) on a fresh data directory. */
export function startLocalKafka(port: number): { brokers: string; version: string; stop(): void } {
  const data = mkdtempSync(join(tmpdir(), 'ridepulse-kafka-'))
  const args = ['--port', String(port), '--data', data]
  // Its data goes with it: a benchmark leaves gigabytes of topics behind, and a full disk fails the next broker.
  const stop = () => {
    forget()
    orphaned()
    execFileSync('bash', [SCRIPT, 'stop', ...args], { stdio: 'inherit' })
    rmSync(data, { recursive: true, force: true })
  }
  // Registered before the start: a signal during it still stops the broker.
  const forget = onTeardown(stop)
  const orphaned = stopIfOrphaned(`${stopCommand(args)}; rm -rf ${quote(data)}`)
  const out = execFileSync('bash', [SCRIPT, 'start', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  return { brokers: out.trim().split('\n').at(-1)!, version: localKafkaVersion(), stop }
}

/** A broker with TLS listeners (`kafka.sh start --secure`), and what its clients need. */
export interface SecureKafka {
  /** The plaintext listener, for setup and for checking results. */
  brokers: string
  /** Mutual TLS: a client certificate signed by `files.ca` is required. */
  ssl: string
  /** SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) over TLS. */
  saslSsl: string
  user: string
  password: string
  /** Paths of the PEM files (scripts/kafka/certs.sh): the CA, a client certificate and its key, and an unrelated CA. */
  files: { dir: string; ca: string; clientCert: string; clientKey: string; otherCa: string }
  /** The same files' contents. */
  pem: { ca: string; clientCert: string; clientKey: string; otherCa: string }
  stop(): void
}

/**
 * Starts a broker with a plaintext, an SSL (mutual TLS) and a SASL_SSL
 * listener on a fresh data directory, its certificates and SASL user made
 * for it by scripts/kafka/certs.sh. `hosts`: addresses besides loopback that
 * the broker's certificate names (and that it listens on, the first one).
 */
export function startSecureKafka(port: number, hosts: string[] = []): SecureKafka {
  const data = mkdtempSync(join(tmpdir(), 'ridepulse-kafka-secure-'))
  const dir = join(data, 'certs')
  execFileSync('bash', [CERTS, dir, ...hosts.flatMap((h) => ['--host', h])], { stdio: 'inherit' })
  const args = ['--port', String(port), '--data', join(data, 'broker'), '--secure', dir, ...(hosts[0] ? ['--host', hosts[0]] : [])]
  const stop = () => {
    forget()
    orphaned()
    execFileSync('bash', [SCRIPT, 'stop', ...args], { stdio: 'inherit' })
    rmSync(data, { recursive: true, force: true })
  }
  const forget = onTeardown(stop)
  const orphaned = stopIfOrphaned(`${stopCommand(args)}; rm -rf ${quote(data)}`)
  const out = execFileSync('bash', [SCRIPT, 'start', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  const brokers = out.trim().split('\n').at(-1)!
  const host = brokers.slice(0, brokers.lastIndexOf(':'))
  const [user, password] = readFileSync(join(dir, 'users'), 'utf8').trim().split(/\s+/) as [string, string]
  const files = { dir, ca: join(dir, 'ca.crt'), clientCert: join(dir, 'client.crt'), clientKey: join(dir, 'client.key'), otherCa: join(dir, 'other-ca.crt') }
  const text = (f: string) => readFileSync(f, 'utf8')
  return {
    brokers,
    ssl: `${host}:${port + 100}`,
    saslSsl: `${host}:${port + 200}`,
    user,
    password,
    files,
    pem: { ca: text(files.ca), clientCert: text(files.clientCert), clientKey: text(files.clientKey), otherCa: text(files.otherCa) },
    stop,
  }
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
