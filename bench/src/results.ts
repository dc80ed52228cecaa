import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Machine } from './machine.js'
import type { Summary } from './stats.js'

/** One figure: a distribution (with its sample size) or a single value. */
export interface Figure {
  /** Stable key, e.g. `recovery.ttr.100000`. */
  key: string
  label: string
  unit: string
  summary?: Summary
  value?: number
  params?: Record<string, string | number | boolean>
}

export interface Experiment {
  title: string
  figures: Figure[]
  /** What the reader should know about how it was measured. */
  method: string
  error?: string
}

export interface BenchRun {
  id: string
  mode: 'quick' | 'full'
  startedAt: string
  finishedAt: string
  machine: Machine
  experiments: Record<string, Experiment>
}

export const resultsDir = (root: string) => join(root, 'bench', 'results')

export function saveRun(root: string, run: BenchRun): string {
  mkdirSync(resultsDir(root), { recursive: true })
  const file = join(resultsDir(root), `${run.id}-${run.mode}.json`)
  writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`)
  return file
}

/** The newest run of a mode, if any. */
export function latestRun(root: string, mode: 'quick' | 'full'): BenchRun | undefined {
  let files: string[] = []
  try {
    files = readdirSync(resultsDir(root)).filter((f) => f.endsWith(`-${mode}.json`)).sort()
  } catch {
    return undefined
  }
  const last = files.at(-1)
  return last ? (JSON.parse(readFileSync(join(resultsDir(root), last), 'utf8')) as BenchRun) : undefined
}
