import { describe, expect, it } from 'vitest'
import { composeRuns, type BenchRun, type Experiment } from './results.js'

const machine = { cores: 2, cpu: 'cpu', memoryGiB: 24, kernel: 'k', node: 'v20', java: 'openjdk 17', kafka: '3.9.1', commit: 'c0' }
const exp = (value: number, error?: string): Experiment => ({ title: 't', method: 'm', figures: [{ key: 'k', label: 'l', unit: 'u', value }], ...(error ? { error } : {}) })
const run = (id: string, commit: string, experiments: Record<string, Experiment>): BenchRun => ({ id, mode: 'full', startedAt: `${id}T00:00:00Z`, finishedAt: '', machine: { ...machine, commit }, experiments })

describe('composeRuns', () => {
  it('has nothing to compose without runs', () => {
    expect(composeRuns([])).toBeUndefined()
  })

  it('takes each experiment from the newest run that has it, and the machine from the newest run', () => {
    const c = composeRuns([run('2026-01-01', 'a', { recovery: exp(1), steady: exp(2) }), run('2026-01-02', 'b', { steady: exp(3) })])!
    expect(c.experiments.recovery!.figures[0]!.value).toBe(1)
    expect(c.experiments.steady!.figures[0]!.value).toBe(3)
    expect(c.sources).toEqual({ recovery: { id: '2026-01-01', commit: 'a', startedAt: '2026-01-01T00:00:00Z', cpu: 'cpu' }, steady: { id: '2026-01-02', commit: 'b', startedAt: '2026-01-02T00:00:00Z', cpu: 'cpu' } })
    expect(c.machine.commit).toBe('b')
    expect(c.id).toBe('2026-01-02')
  })

  it('keeps an older success over a newer failure, and shows a failure only when nothing succeeded', () => {
    const c = composeRuns([run('1', 'a', { recovery: exp(1) }), run('2', 'b', { recovery: exp(0, 'boom'), eos: exp(0, 'bang') })])!
    expect(c.experiments.recovery).toMatchObject({ figures: [{ value: 1 }] })
    expect(c.experiments.recovery!.error).toBeUndefined()
    expect(c.experiments.eos!.error).toBe('bang')
    expect(c.sources.recovery!.id).toBe('1')
  })
})
