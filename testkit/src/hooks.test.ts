import { describe, expect, it } from 'vitest'
import { testHooks, TestHooksError, wantsTestHooks } from './hooks.js'

describe('test hooks', () => {
  it('are asked for by FAULT or DELIVERY only', () => {
    expect(wantsTestHooks({ ROLE: 'opb' })).toBe(false)
    expect(wantsTestHooks({ FAULT: 'after-commit:3' })).toBe(true)
    expect(wantsTestHooks({ DELIVERY: 'at-least-once' })).toBe(true)
  })

  it('give a commit hook for a fault and a producer for at-least-once, nothing otherwise', () => {
    expect(testHooks({})).toEqual({})
    expect(testHooks({ FAULT: 'during-commit:8' }).commitPoint).toBeTypeOf('function')
    expect(testHooks({ DELIVERY: 'at-least-once' }).producer).toBeTypeOf('function')
  })

  it('arm a fault by signal, which does nothing until the signal comes', () => {
    const before = process.listenerCount('SIGUSR2')
    const hooks = testHooks({ FAULT: 'during-commit:signal' })
    try {
      expect(process.listenerCount('SIGUSR2')).toBe(before + 1)
      hooks.commitPoint!('during-commit', 1) // unarmed: the test process lives on
    } finally {
      process.removeAllListeners('SIGUSR2')
    }
  })

  it.each([
    [{ FAULT: 'now' }, /FAULT/],
    [{ FAULT: 'during-commit:soon' }, /FAULT/],
    [{ DELIVERY: 'at-most-once' }, /DELIVERY/],
    [{ SNAPSHOT_MODE: 'checkpoint', DELIVERY: 'at-least-once' }, /DELIVERY: checkpoint mode/],
  ])('refuse %j naming the variable', (env, message) => {
    expect(() => testHooks(env)).toThrow(TestHooksError)
    expect(() => testHooks(env)).toThrow(message)
  })
})
