import { mkdtempSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { againstCeiling, writeReport } from './report.js'
import type { BenchRun } from './results.js'
import { summarize } from './stats.js'

const machine = { cores: 2, cpu: 'test cpu', memoryGiB: 24, kernel: 'k', node: 'v20', java: 'openjdk 17', kafka: '3.9.1', commit: 'abc123' }
const SIZES = [10_000, 100_000, 1_000_000, 10_000_000]
/** A run whose kills take 500 ms but the slowest tenth, `slowest` ms; `kills` per size. */
const run = (slowest: number, kills = 100, sizes = SIZES): BenchRun => ({
  id: 'r1',
  mode: 'full',
  startedAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T00:10:00Z',
  machine,
  experiments: {
    recovery: {
      title: 'Local recovery',
      method: 'kill -9, restart',
      figures: [
        { key: 'recovery.ttr.10000', label: 'ttr 10k', unit: 'ms', summary: summarize(Array.from({ length: 20 }, () => 500)), params: { keys: 10000 } },
        { key: 'recovery.fullReplayRate.10000', label: 'replay', unit: 'records/s', value: 250_000, params: { records: 10000 } },
      ],
    },
    underload: {
      title: 'Recovery under load',
      method: 'kills',
      figures: sizes.flatMap((keys) => [
        { key: `underload.firstCommit.${keys}`, label: `first commit ${keys}`, unit: 'ms', summary: summarize(Array.from({ length: kills }, (_, i) => (i >= kills * 0.9 ? slowest : 500))), params: { keys } },
        { key: `underload.caughtUp.${keys}`, label: `caught up ${keys}`, unit: 'ms', summary: summarize(Array.from({ length: kills }, () => 600)), params: { keys } },
      ]),
    },
  },
})

describe('writeReport', () => {
  it.each([
    [900, 100, SIZES, 'met', ''],
    [1400, 100, SIZES, '**missed**', 'the replacement\'s own start sets it'],
    [900, 99, SIZES, '**missed**', 'fewer than 100 kills at 10,000, 100,000, 1,000,000, 10,000,000 keys'],
    [900, 100, SIZES.slice(0, 3), '**missed**', 'fewer than 100 kills at 10,000,000 keys'],
  ])('checks the goals against the run (slowest tenth %i ms, %i kills) and draws the chart', async (slowest, kills, sizes, verdict, why) => {
    const root = mkdtempSync(join(tmpdir(), 'ridepulse-report-'))
    const file = await writeReport(root, { full: run(slowest, kills, sizes) }, '## Notes\n\nhand-written')
    const md = readFileSync(file, 'utf8')
    expect(md).toMatch(new RegExp(`time to recover under half the maximum load.*\\| ${verdict.replace(/\*/g, '\\*')} \\|`))
    if (why) expect(md).toContain(why)
    expect(md).toMatch(/changelog replay ≥ 200,000 records\/s \| 250,000 records\/s .* \| met \|/)
    expect(md).toContain('| ttr 10k | 20 |')
    expect(md).toContain('2 cores (test cpu)')
    expect(md.trimEnd().endsWith('hand-written')).toBe(true)
    expect(existsSync(join(root, 'docs', 'bench', 'recovery.svg'))).toBe(true)
    expect(readFileSync(join(root, 'docs', 'bench', 'recovery.svg'), 'utf8')).toMatch(/^<svg/)
  })
})

describe('againstCeiling', () => {
  const fig = (key: string, value: number) => [key, { key, label: key, unit: 'x', value }] as const
  it('puts the pipeline maximum against one producer writing to the same broker', () => {
    const line = againstCeiling(new Map([fig('steady.max', 40_000), fig('ceiling.produce.acks=all', 160_000)]))
    expect(line).toContain('40,000 events/s, is 25% of the 160,000 records/s')
  })

  it('prefers the ceiling measured beside the drains', () => {
    const line = againstCeiling(new Map([fig('steady.max', 40_000), fig('steady.ceiling', 80_000), fig('ceiling.produce.acks=all', 160_000)]))
    expect(line).toContain('40,000 events/s, is 50% of the 80,000 records/s')
    expect(line).toContain('measured beside the drains')
  })

  it('says nothing when either figure is missing', () => {
    expect(againstCeiling(new Map([fig('steady.max', 40_000)]))).toBeUndefined()
  })
})
