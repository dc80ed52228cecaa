import { describe, expect, it } from 'vitest'
import { kafkaIdOf, parseWorkerEnv, renderWorkerEnv, transactionalIdOf } from './worker-env.js'

describe('the worker environment', () => {
  it('renders typed values as the worker parses them: numbers, lists, names', () => {
    const env = renderWorkerEnv({ ROLE: 'opb', SHARD: 2, SHARDS: 4, DATA_DIR: '/data', KAFKA_BROKERS: ['a:1', 'b:2'], COMMIT_INTERVAL_MS: 50, TOPIC_LATE: undefined })
    expect(env).toEqual({ ROLE: 'opb', SHARD: '2', SHARDS: '4', DATA_DIR: '/data', KAFKA_BROKERS: 'a:1,b:2', COMMIT_INTERVAL_MS: '50' })
    expect(parseWorkerEnv(env)).toMatchObject({ ok: true, config: { SHARD: 2, SHARDS: 4, KAFKA_BROKERS: ['a:1', 'b:2'], COMMIT_INTERVAL_MS: 50, TOPIC_LATE: 'orders.late' } })
  })

  it('names every bad variable at once', () => {
    const r = parseWorkerEnv({ ROLE: 'opb', SHARD: '5', SHARDS: '2', DATA_DIR: '', COMMIT_INTERVAL_MS: 'soon' })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.issues.join('\n')).toMatch(/DATA_DIR/)
    expect(r.issues.join('\n')).toMatch(/COMMIT_INTERVAL_MS: must be a whole number/)
  })

  it('puts the namespace in the transactional ids and the group under the operator, and only there', () => {
    const ops = { PIPELINE: 'rides', PIPELINE_NAMESPACE: 'city' }
    expect([kafkaIdOf(ops), transactionalIdOf(ops, { role: 'opb', shard: 2 }), transactionalIdOf(ops, { role: 'opa', index: 0 })]).toEqual(['city.rides', 'city.rides-opb-2', 'city.rides-opa-0'])
    expect(transactionalIdOf({ PIPELINE: 'rides' }, { role: 'opb', shard: 2 })).toBe('rides-opb-2')
    expect(parseWorkerEnv({ ROLE: 'opb', SHARD: '0', DATA_DIR: '/d', PIPELINE_NAMESPACE: 'City.A' })).toMatchObject({ ok: false, issues: [expect.stringMatching(/PIPELINE_NAMESPACE/)] })
  })

  it('takes remote snapshot copies only with a valid bucket, prefix and URL, and never in checkpoint mode', () => {
    const opb = { ROLE: 'opb', SHARD: '0', DATA_DIR: '/d' }
    expect(parseWorkerEnv({ ...opb, REMOTE_SNAPSHOTS_BUCKET: 'snapshots', REMOTE_SNAPSHOTS_ENDPOINT: 'http://minio:9000', REMOTE_SNAPSHOTS_PREFIX: 'city/' })).toMatchObject({
      ok: true,
      config: { REMOTE_SNAPSHOTS_BUCKET: 'snapshots', REMOTE_SNAPSHOTS_REGION: 'us-east-1', REMOTE_SNAPSHOTS_KEEP: 3, REMOTE_SNAPSHOTS_PREFIX: 'city/' },
    })
    expect(parseWorkerEnv(opb)).toMatchObject({ ok: true, config: { REMOTE_SNAPSHOTS_PREFIX: '' } })
    const bad = parseWorkerEnv({ ...opb, REMOTE_SNAPSHOTS_BUCKET: 'My_Bucket', REMOTE_SNAPSHOTS_ENDPOINT: 'minio:9000', REMOTE_SNAPSHOTS_PREFIX: '/city', REMOTE_SNAPSHOTS_KEEP: '0' })
    expect(bad.ok).toBe(false)
    if (bad.ok) return
    for (const name of ['REMOTE_SNAPSHOTS_BUCKET', 'REMOTE_SNAPSHOTS_ENDPOINT', 'REMOTE_SNAPSHOTS_PREFIX', 'REMOTE_SNAPSHOTS_KEEP']) expect(bad.issues.join('\n')).toMatch(new RegExp(`^${name}: `, 'm'))
    expect(parseWorkerEnv({ ...opb, SNAPSHOT_MODE: 'checkpoint', REMOTE_SNAPSHOTS_BUCKET: 'snapshots' })).toMatchObject({ ok: false, issues: [expect.stringMatching(/^REMOTE_SNAPSHOTS_BUCKET: .*checkpoint mode/)] })
  })
})
