import { describe, expect, it } from 'vitest'
import { bySize } from './load.js'

const rec = (key: string, bytes: number) => ({ key, value: Buffer.alloc(bytes) })

describe('bySize', () => {
  it('cuts records into runs within the size, keys counted, order kept', () => {
    const rs = [rec('a', 40), rec('b', 40), rec('c', 40), rec('d', 10)]
    expect(bySize(rs, 100).map((run) => run.map((r) => r.key))).toEqual([['a', 'b'], ['c', 'd']])
  })

  it('puts a record larger than the size in a run of its own, and makes no empty run', () => {
    expect(bySize([rec('big', 500), rec('x', 1)], 100).map((run) => run.length)).toEqual([1, 1])
    expect(bySize([], 100)).toEqual([])
  })
})
