import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from './config.js'

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
    [{ ROLE: 'opa', OPA_INDEX: '0', FAULT: 'now' }, /FAULT/],
    [{ ROLE: 'opc' }, /ROLE/],
    [{ ROLE: 'opb', SHARD: '0', DATA_DIR: '/d', SNAPSHOT_MODE: 'checkpoint', SNAPSHOT_INTERVAL_MS: '30000' }, /SNAPSHOT_INTERVAL_MS/],
  ])('rejects %j naming the field', (env, field) => {
    expect(() => loadConfig(env)).toThrow(ConfigError)
    expect(() => loadConfig(env)).toThrow(field)
  })
})
