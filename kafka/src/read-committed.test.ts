import { describe, expect, it } from 'vitest'
import { committedBatches, type BatchLike } from './read-committed.js'

type R = { key: Buffer | null; v: string }
const marker = (type: number): R => {
  const key = Buffer.alloc(4)
  key.writeInt16BE(type, 2)
  return { key, v: type === 0 ? 'ABORT' : 'COMMIT' }
}
const data = (offset: number, pid: number, ...vs: string[]): BatchLike<R> => ({
  firstOffset: BigInt(offset),
  lastOffsetDelta: vs.length - 1,
  attributes: 0x10,
  producerId: BigInt(pid),
  records: vs.map((v) => ({ key: null, v })),
})
const control = (offset: number, pid: number, type: number): BatchLike<R> => ({
  firstOffset: BigInt(offset),
  lastOffsetDelta: 0,
  attributes: 0x30,
  producerId: BigInt(pid),
  records: [marker(type)],
})
const values = (batches: BatchLike<R>[], aborted: { producerId: number; firstOffset: number }[]) =>
  [...committedBatches(batches, aborted.map((a) => ({ producerId: BigInt(a.producerId), firstOffset: BigInt(a.firstOffset) })))].flatMap((b) =>
    b.records.map((r) => r.v),
  )

describe('committedBatches', () => {
  it('drops control batches and keeps committed data', () => {
    expect(values([data(0, 1, 'a', 'b'), control(2, 1, 1), data(3, 1, 'c'), control(4, 1, 1)], [])).toEqual(['a', 'b', 'c'])
  })

  it('drops an aborted transaction up to its abort marker, then reads the same producer again', () => {
    const batches = [data(0, 1, 'a'), control(1, 1, 1), data(2, 1, 'x', 'y'), control(4, 1, 0), data(5, 1, 'b'), control(6, 1, 1)]
    expect(values(batches, [{ producerId: 1, firstOffset: 2 }])).toEqual(['a', 'b'])
  })

  it('keeps another producer interleaved with an aborted one', () => {
    const batches = [data(0, 1, 'x'), data(1, 2, 'a'), control(2, 1, 0), control(3, 2, 1)]
    expect(values(batches, [{ producerId: 1, firstOffset: 0 }])).toEqual(['a'])
  })

  it('keeps non-transactional batches whatever the aborted list says', () => {
    const plain: BatchLike<R> = { ...data(0, 1, 'p'), attributes: 0 }
    expect(values([plain], [{ producerId: 1, firstOffset: 0 }])).toEqual(['p'])
  })
})
