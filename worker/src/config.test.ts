import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, kafkaSettings, loadConfig } from './config.js'

const pemDir = mkdtempSync(join(tmpdir(), 'ridepulse-config-test-'))
const file = (name: string, text: string) => {
  const path = join(pemDir, name)
  writeFileSync(path, text)
  return path
}
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n'
const ca = file('ca.crt', CERT)
const cert = file('tls.crt', CERT)
const key = file('tls.key', KEY)
const notPem = file('junk.txt', 'not a certificate')

describe('loadConfig', () => {
  it('applies defaults for an OpB shard', () => {
    const c = loadConfig({ ROLE: 'opb', SHARD: '2', DATA_DIR: '/data' })
    expect(c).toMatchObject({ ROLE: 'opb', SHARD: 2, COMMIT_INTERVAL_MS: 100, SNAPSHOT_MODE: 'incremental', KAFKA_BROKERS: ['127.0.0.1:9092'] })
  })

  it('accepts checkpoint-only mode with an interval the transaction timeout allows', () => {
    expect(loadConfig({ ROLE: 'opb', SHARD: '0', DATA_DIR: '/d', SNAPSHOT_MODE: 'checkpoint', SNAPSHOT_INTERVAL_MS: '2000' })).toMatchObject({ SNAPSHOT_MODE: 'checkpoint' })
  })

  it.each([
    [{ ROLE: 'opb', DATA_DIR: '/d' }, /SHARD/],
    [{ ROLE: 'opb', SHARD: '-1', DATA_DIR: '/d' }, /SHARD/],
    [{ ROLE: 'opb', SHARD: '0', DATA_DIR: '/d', SNAPSHOT_MODE: 'sometimes' }, /SNAPSHOT_MODE/],
    [{ ROLE: 'opa', OPA_INDEX: '0', KAFKA_BROKERS: 'localhost' }, /KAFKA_BROKERS/],
    [{ ROLE: 'opc' }, /ROLE/],
    [{ ROLE: 'opb', SHARD: '0', DATA_DIR: '/d', SNAPSHOT_MODE: 'checkpoint', SNAPSHOT_INTERVAL_MS: '30000' }, /SNAPSHOT_INTERVAL_MS/],
    [{ ROLE: 'opa', OPA_INDEX: '0', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: 'u' }, /KAFKA_SASL_PASSWORD: is required with KAFKA_SECURITY_PROTOCOL=SASL_SSL/],
    [{ ROLE: 'opa', OPA_INDEX: '0', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, /KAFKA_SASL_MECHANISM: is only read with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL/],
    [{ ROLE: 'opb', SHARD: '0', DATA_DIR: '/d', KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'KERBEROS', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, /KAFKA_SASL_MECHANISM/],
    [{ ROLE: 'opa', OPA_INDEX: '0', KAFKA_SECURITY_PROTOCOL: 'TLS' }, /KAFKA_SECURITY_PROTOCOL/],
    [{ ROLE: 'opa', OPA_INDEX: '0', KAFKA_TLS_CA_FILE: ca }, /KAFKA_TLS_CA_FILE: is only read with KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL/],
    [{ ROLE: 'opa', OPA_INDEX: '0', KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_TLS_CERT_FILE: cert }, /KAFKA_TLS_KEY_FILE: is required with the other half/],
    [{ ROLE: 'opa', OPA_INDEX: '0', KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_TLS_CA_FILE: join(pemDir, 'missing.crt') }, /KAFKA_TLS_CA_FILE: cannot read .*missing\.crt \(ENOENT\)/],
    [{ ROLE: 'opa', OPA_INDEX: '0', KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_TLS_CA_FILE: notPem }, /KAFKA_TLS_CA_FILE: .*junk\.txt holds no certificate in PEM form/],
    [{ ROLE: 'opa', OPA_INDEX: '0', KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_TLS_CERT_FILE: cert, KAFKA_TLS_KEY_FILE: cert }, /KAFKA_TLS_KEY_FILE: .* holds no private key in PEM form/],
    [{ ROLE: 'opa', OPA_INDEX: '0', TOPIC_REPLICATION_FACTOR: '0' }, /TOPIC_REPLICATION_FACTOR/],
  ])('rejects %j naming the field', (env, field) => {
    expect(() => loadConfig(env)).toThrow(ConfigError)
    expect(() => loadConfig(env)).toThrow(field)
  })

  it('passes SASL credentials and the replication factor to the Kafka clients', () => {
    const c = loadConfig({ ROLE: 'opa', OPA_INDEX: '0', KAFKA_BROKERS: 'k:9093', KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p', TOPIC_REPLICATION_FACTOR: '3' })
    expect(kafkaSettings(c, 'x')).toEqual({ brokers: ['k:9093'], clientId: 'x', replicationFactor: 3, sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' } })
    expect(kafkaSettings(loadConfig({ ROLE: 'opa', OPA_INDEX: '0' }), 'y')).toEqual({ brokers: ['127.0.0.1:9092'], clientId: 'y', replicationFactor: -1 })
  })

  it('passes TLS to the Kafka clients: the CA and the client certificate read from their files, with SASL over TLS', () => {
    const c = loadConfig({ ROLE: 'opa', OPA_INDEX: '0', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p', KAFKA_TLS_CA_FILE: ca, KAFKA_TLS_CERT_FILE: cert, KAFKA_TLS_KEY_FILE: key })
    expect(kafkaSettings(c, 'x')).toMatchObject({ sasl: { mechanism: 'SCRAM-SHA-256', username: 'u', password: 'p' }, tls: { ca: CERT, cert: CERT, key: KEY } })
    // TLS with the runtime's own authorities: no file at all.
    expect(kafkaSettings(loadConfig({ ROLE: 'opa', OPA_INDEX: '0', KAFKA_SECURITY_PROTOCOL: 'SSL' }), 'y').tls).toEqual({})
  })
})
