import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { connectionProblem, ensureTopics, readToEnd, TxnProducer, type KafkaSettings } from '@ridepulse/kafka'
import { startSecureKafka, TcpRelay, waitReady, type SecureKafka, type WorkerEnv } from '@ridepulse/testkit'
import { cleanUpPipelinesAfterEach, FAST_WINDOWS, testPipeline } from '@ridepulse/testkit/vitest'

cleanUpPipelinesAfterEach()

/**
 * A broker that only a client with the right certificates and credentials
 * may use, as most production clusters are: an SSL listener requiring a
 * client certificate and a SASL_SSL listener (PLAIN, SCRAM-SHA-256,
 * SCRAM-SHA-512), its certificates made for the test by openssl
 * (scripts/kafka/certs.sh).
 */
let k: SecureKafka
beforeAll(() => {
  k = startSecureKafka(inject('kafkaPort') + 40)
}, 120_000)
afterAll(() => k?.stop())

let n = 0
const clientId = () => `security-test-${++n}`
const mtls = (): KafkaSettings => ({ brokers: [k.ssl], clientId: clientId(), tls: { ca: k.pem.ca, cert: k.pem.clientCert, key: k.pem.clientKey } })
const sasl = (mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512', password = k.password): KafkaSettings => ({
  brokers: [k.saslSsl],
  clientId: clientId(),
  tls: { ca: k.pem.ca },
  sasl: { mechanism, username: k.user, password },
})

describe('TLS, mutual TLS and SASL over TLS on a real broker', () => {
  it.each<[string, () => KafkaSettings]>([
    ['mutual TLS (SSL with a client certificate)', mtls],
    ['SASL PLAIN over TLS', () => sasl('PLAIN')],
    ['SASL SCRAM-SHA-256 over TLS', () => sasl('SCRAM-SHA-256')],
    ['SASL SCRAM-SHA-512 over TLS', () => sasl('SCRAM-SHA-512')],
  ])('%s: topics created, a transaction committed and read back read_committed', async (what, settingsOf) => {
    const settings = settingsOf()
    const topic = `secure-${what.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${Date.now().toString(36)}`
    await ensureTopics(settings, [{ name: topic, partitions: 1 }])
    const tx = new TxnProducer(settings, `${topic}-tx`)
    try {
      await tx.fence()
      await tx.begin()
      await tx.send(Array.from({ length: 20 }, (_, i) => ({ topic, partition: 0, key: `k${i}`, value: Buffer.from(`v${i}`) })))
      await tx.commit()
    } finally {
      await tx.close()
    }
    // The commit returns once the coordinator has it; the markers reach the partition a moment later,
    // and only then does the read_committed end move past the transaction.
    let back: Awaited<ReturnType<typeof readToEnd>> = []
    for (let tries = 0; tries < 50 && back.length < 20; tries++) {
      if (tries > 0) await sleep(200)
      back = await readToEnd(settings, topic, 0)
    }
    expect(back.map((r) => r.value?.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`))
  })

  it.each<[string, () => Promise<{ settings: KafkaSettings; done?: () => void }>, string]>([
    ['a CA that did not sign the broker\'s certificate', async () => ({ settings: { ...sasl('SCRAM-SHA-512'), tls: { ca: k.pem.otherCa } } }), 'TlsCertificateNotTrusted'],
    ['the runtime\'s own authorities, which never signed a test certificate', async () => ({ settings: { ...sasl('SCRAM-SHA-512'), tls: {} } }), 'TlsCertificateNotTrusted'],
    ['a wrong password (SCRAM-SHA-256)', async () => ({ settings: sasl('SCRAM-SHA-256', 'not-the-password') }), 'SaslAuthenticationFailed'],
    ['a wrong password (PLAIN)', async () => ({ settings: sasl('PLAIN', 'not-the-password') }), 'SaslAuthenticationFailed'],
    ['no client certificate where mutual TLS is required', async () => ({ settings: { brokers: [k.ssl], clientId: clientId(), tls: { ca: k.pem.ca } } }), 'TlsClientCertificateRefused'],
    ['an address the broker\'s certificate does not name', async () => {
      // The same broker, reached through a relay on another loopback address.
      const r = await TcpRelay.start(k.saslSsl, '127.0.0.2')
      return { settings: { ...sasl('SCRAM-SHA-512'), brokers: [r.address] }, done: () => void r.close() }
    }, 'TlsHostnameMismatch'],
    ['plaintext to a TLS listener', async () => ({ settings: { brokers: [k.saslSsl], clientId: clientId() } }), 'TlsRequired'],
    ['TLS to a plaintext listener', async () => ({ settings: { brokers: [k.brokers], clientId: clientId(), tls: { ca: k.pem.ca } } }), 'TlsHandshakeFailed'],
  ])('%s: the call fails with a reason a person can act on, never hangs', async (_what, make, reason) => {
    const { settings, done } = await make()
    const started = Date.now()
    const err = await ensureTopics(settings, [{ name: `never-${Date.now().toString(36)}`, partitions: 1 }]).then(() => undefined, (e: unknown) => e)
    done?.()
    const elapsed = Date.now() - started
    const problem = connectionProblem(err, settings.tls !== undefined)
    process.stdout.write(`${reason}: failed after ${elapsed} ms: ${problem?.message ?? String(err)}\n`)
    expect(err).toBeInstanceOf(Error)
    expect(problem?.reason).toBe(reason)
  })
})

/** Polls `probe` until it gives a value, or fails naming `what`. */
async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(200)) {
    const v = await probe().catch(() => undefined)
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
  }
}

/** The bundled board with `env` and an ephemeral port; its address once it listens, and its logs. */
function startBoard(env: Record<string, string>) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('../../board/dist/main.js', import.meta.url))], {
    env: { PATH: process.env.PATH ?? '', HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let logs = ''
  child.stdout.on('data', (b: Buffer) => (logs += b.toString()))
  child.stderr.on('data', (b: Buffer) => (logs += b.toString()))
  const url = until('the board listening', async () => /board on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(logs)?.[1], 15_000)
  return { child, url, logs: () => logs }
}

describe('the pipeline on a broker that requires TLS', () => {
  const saslEnv = (): WorkerEnv => ({
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: k.user,
    KAFKA_SASL_PASSWORD: k.password,
    KAFKA_TLS_CA_FILE: k.files.ca,
  })

  it('OpA and two OpB shards over SASL_SSL (SCRAM-SHA-512), a shard killed and recovered under load: exact', async () => {
    // The workers use the TLS listener; the load and the verifier the plaintext one of the same broker.
    const t = testPipeline('sasl-ssl', { brokers: k.saslSsl, env: { ...FAST_WINDOWS, ...saslEnv() } }, { brokers: k.brokers })
    await t.p.startAll()
    const load = t.load()
    await sleep(2500)
    await t.p.killOpb(1)
    await waitReady(t.p.startOpb(1))
    await sleep(2000)
    await load.stop()
    const report = await t.verifyWhenFinal(60_000)
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
    expect(report.windows).toBeGreaterThan(2)

    // The board reads the counts over mutual TLS; given a CA that did not sign the broker's certificate, it says so.
    const boardEnv = { KAFKA_BROKERS: k.ssl, KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_TLS_CA_FILE: k.files.ca, KAFKA_TLS_CERT_FILE: k.files.clientCert, KAFKA_TLS_KEY_FILE: k.files.clientKey, TOPIC_OUTPUT: t.p.topics.TOPIC_OUTPUT, SHARDS: '2' }
    const good = startBoard(boardEnv)
    const bad = startBoard({ ...boardEnv, KAFKA_TLS_CA_FILE: k.files.otherCa })
    try {
      await until('the board over mutual TLS caught up', async () => (await fetch(`${await good.url}readyz`).catch(() => undefined))?.ok, 30_000)
      // The gauge of zone-minutes held is set once a second.
      const cells = await until('the board holding counts', async () => Number(/^ridepulse_board_cells (\d+)/m.exec(await (await fetch(`${await good.url}metrics`)).text())?.[1] ?? 0) || undefined, 10_000)
      expect(cells).toBeGreaterThan(0)
      await until('the board with the wrong CA naming it', async () => /cannot use the Kafka cluster: the broker's TLS certificate is not signed by an authority the client trusts/.test(bad.logs()), 30_000)
      expect((await fetch(`${await bad.url}readyz`)).ok).toBe(false)
    } finally {
      good.child.kill('SIGTERM')
      bad.child.kill('SIGTERM')
    }
  })

  it.each<[string, (env: WorkerEnv) => WorkerEnv, RegExp]>([
    ['a CA that did not sign the broker\'s certificate', (env) => ({ ...env, KAFKA_TLS_CA_FILE: k.files.otherCa }), /TlsCertificateNotTrusted.*cannot use the Kafka cluster: the broker's TLS certificate is not signed by an authority the client trusts|cannot use the Kafka cluster: the broker's TLS certificate is not signed by an authority the client trusts.*TlsCertificateNotTrusted/],
    ['a wrong password', (env) => ({ ...env, KAFKA_SASL_PASSWORD: 'not-the-password' }), /SaslAuthenticationFailed.*the broker refused the SASL credentials|the broker refused the SASL credentials.*SaslAuthenticationFailed/],
  ])('a worker given %s exits with code 1 and a log line naming the cause', async (_what, change, line) => {
    const t = testPipeline('tls-refused', { brokers: k.saslSsl, env: change(saslEnv()) }, { brokers: k.brokers })
    const w = t.p.startOpa(0)
    const code = await Promise.race([w.exited, sleep(60_000).then(() => 'still running')])
    expect(code).toBe(1)
    expect(readFileSync(w.logFile, 'utf8')).toMatch(line)
  })
})
