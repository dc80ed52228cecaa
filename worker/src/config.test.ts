import { describe, expect, it } from 'vitest'
import { ConfigError, kafkaSettings, loadConfig } from './config.js'

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
    [{ ROLE: 'opa', OPA_INDEX: '0', KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: 'u' }, /KAFKA_SASL_MECHANISM/],
    [{ ROLE: 'opb', SHARD: '0', DATA_DIR: '/d', KAFKA_SASL_MECHANISM: 'KERBEROS', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, /KAFKA_SASL_MECHANISM/],
    [{ ROLE: 'opa', OPA_INDEX: '0', TOPIC_REPLICATION_FACTOR: '0' }, /TOPIC_REPLICATION_FACTOR/],
  ])('rejects %j naming the field', (env, field) => {
    expect(() => loadConfig(env)).toThrow(ConfigError)
    expect(() => loadConfig(env)).toThrow(field)
  })

  it('passes SASL credentials and the replication factor to the Kafka clients', () => {
    const c = loadConfig({ ROLE: 'opa', OPA_INDEX: '0', KAFKA_BROKERS: 'k:9093', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p', TOPIC_REPLICATION_FACTOR: '3' })
    expect(kafkaSettings(c, 'x')).toEqual({ brokers: ['k:9093'], clientId: 'x', replicationFactor: 3, sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' } })
    expect(kafkaSettings(loadConfig({ ROLE: 'opa', OPA_INDEX: '0' }), 'y')).toEqual({ brokers: ['127.0.0.1:9092'], clientId: 'y', replicationFactor: -1 })
  })
})
