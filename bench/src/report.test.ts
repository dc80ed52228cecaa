import { mkdtempSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { againstCeiling, writeReport } from './report.js'
import type { BenchRun } from './results.js'
import { summarize } from './stats.js'

const machine = { cores: 2, cpu: 'test cpu', memoryGiB: 24, kernel: 'k', node: 'v20', java: 'openjdk 17', kafka: '3.9.1', commit: 'abc123' }
const run = (p95: number): BenchRun => ({
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
        { key: 'recovery.ttr.10000', label: 'ttr 10k', unit: 'ms', summary: summarize(Array.from({ length: 20 }, (_, i) => (i >= 18 ? p95 : 500))), params: { keys: 10000 } },
        { key: 'recovery.fullReplayRate.10000', label: 'replay', unit: 'records/s', value: 250_000, params: { records: 10000 } },
      ],
    },
  },
})

describe('writeReport', () => {
  it.each([
    [900, 'met'],
    [1400, '**missed**'],
  ])('checks the goals against the run (two slowest trials %i ms → %s) and draws the chart', async (slowest, verdict) => {
    const root = mkdtempSync(join(tmpdir(), 'ridepulse-report-'))
    const file = await writeReport(root, { full: run(slowest) }, '## Notes\n\nhand-written')
    const md = readFileSync(file, 'utf8')
    expect(md).toMatch(new RegExp(`time to recover p95 ≤ 1 s.*\\| ${verdict.replace(/\*/g, '\\*')} \\|`))
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

  it('says nothing when either figure is missing', () => {
    expect(againstCeiling(new Map([fig('steady.max', 40_000)]))).toBeUndefined()
  })
})
