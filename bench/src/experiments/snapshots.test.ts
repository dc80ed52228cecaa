import { describe, expect, it } from 'vitest'
import { snapshotsLogged } from './snapshots.js'

describe('snapshotsLogged', () => {
  it('reads each snapshot the worker logged and skips everything else, a cut line included', () => {
    const log = [
      '{"level":30,"time":1,"msg":"OpB running"}',
      '{"level":30,"time":2,"snapshotId":"a","kind":"partial","sizeBytes":4096,"keys":10,"ms":12,"removed":0,"msg":"snapshot taken"}',
      'not json at all, "snapshot taken"',
      '{"level":30,"time":3,"snapshotId":"b","kind":"full","sizeBytes":140000000,"keys":1000000,"ms":850,"removed":1,"msg":"snapshot taken"}',
      '{"level":30,"time":4,"snapshotId":"c","kind":"full","ms":9',
    ].join('\n')
    expect(snapshotsLogged(log)).toEqual([
      { kind: 'partial', ms: 12, sizeBytes: 4096 },
      { kind: 'full', ms: 850, sizeBytes: 140_000_000 },
    ])
  })
})
