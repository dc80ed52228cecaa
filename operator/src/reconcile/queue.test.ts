import { describe, expect, it } from 'vitest'
import { retryDelayMs, WorkQueue } from './queue.js'

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms))

describe('WorkQueue', () => {
  it.each([[1, 200], [2, 400], [5, 3200], [20, 60_000]])('waits %i failures → %i ms', (n, ms) => expect(retryDelayMs(n)).toBe(ms))

  it('never runs one key twice at once, and runs it again when it was added meanwhile', async () => {
    const running = new Set<string>()
    const seen: string[] = []
    let overlap = false
    const q = new WorkQueue(async (k) => {
      if (running.has(k)) overlap = true
      running.add(k)
      seen.push(k)
      await tick(20)
      running.delete(k)
      return {}
    }, () => undefined, 2)
    const done = q.run()
    q.add('a')
    await tick()
    q.add('a') // while a runs: once more after
    q.add('a') // collapsed into the same rerun
    q.add('b')
    await tick(80)
    q.stop()
    await done
    expect(overlap).toBe(false)
    expect(seen.filter((k) => k === 'a')).toHaveLength(2)
    expect(seen).toContain('b')
  })

  it('retries a failing key with backoff and reports each failure', async () => {
    const errors: number[] = []
    let calls = 0
    const q = new WorkQueue(async () => {
      calls += 1
      if (calls < 3) throw new Error('boom')
      return {}
    }, (_k, _e, retryInMs) => errors.push(retryInMs))
    const done = q.run()
    q.add('x')
    await tick(800)
    q.stop()
    await done
    expect(errors).toEqual([200, 400])
    expect(calls).toBe(3)
  })
})
