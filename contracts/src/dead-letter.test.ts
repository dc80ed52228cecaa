import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { deadLetter, MAX_KEY_BYTES, MAX_REASON_BYTES, readDeadLetter } from './dead-letter.js'

const source = { topic: 'orders', partition: 2, offset: 41, timestamp: 1_800_000_000_123 }
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('deadLetter', () => {
  it('keeps a small original as it is, with reason and source in headers that read back', () => {
    const value = Buffer.from('{"eventId":')
    const d = deadLetter({ ...source, key: Buffer.from('ride-9'), value }, { code: 'malformed', reason: 'invalid JSON' }, 1000)
    expect(d.value).toEqual(value)
    expect(d.key?.toString()).toBe('ride-9')
    expect(readDeadLetter(d.headers, d.value)).toEqual({
      reason: 'invalid JSON',
      code: 'malformed',
      sourceTopic: 'orders',
      sourcePartition: 2,
      sourceOffset: 41,
      sourceTimestamp: source.timestamp,
      originalBytes: value.length,
      originalSha256: sha(value),
      truncated: false,
      value,
    })
  })

  it.each([
    [900_000, 262_144],
    [262_145, 262_144],
    [262_144, 262_144],
    [10, 262_144],
  ])('cuts an original of %i bytes to at most %i, keeping its size and the SHA-256 of all of it', (size, limit) => {
    const value = Buffer.alloc(size, 0x01)
    const d = deadLetter({ ...source, key: null, value }, { code: 'malformed', reason: 'invalid JSON' }, limit)
    const back = readDeadLetter(d.headers, d.value)!
    expect(d.value!.length).toBe(Math.min(size, limit))
    expect(back).toMatchObject({ originalBytes: size, originalSha256: sha(value), truncated: size > limit })
    expect(d.key).toBeUndefined()
  })

  it('bounds the reason and the key, and marks a record without a value', () => {
    const d = deadLetter({ ...source, key: Buffer.alloc(5000, 0x61), value: null }, { code: 'malformed', reason: 'x'.repeat(5000) }, 100)
    const back = readDeadLetter(d.headers, d.value)!
    expect(back.reason).toHaveLength(MAX_REASON_BYTES)
    expect(d.key).toHaveLength(MAX_KEY_BYTES)
    expect(back).toMatchObject({ originalBytes: -1, originalSha256: undefined, truncated: false, value: null })
  })

  it('reads nothing from headers that are not a dead letter', () => {
    expect(readDeadLetter([['trace', Buffer.from('1')]], Buffer.from('x'))).toBeUndefined()
  })
})
