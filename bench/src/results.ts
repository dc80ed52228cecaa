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

/** Values over time, drawn as lines (one per series). */
export interface Series {
  title: string
  x: string
  y: string
  points: { x: number; y: number; series: string }[]
}

export interface Experiment {
  title: string
  figures: Figure[]
  /** Drawn as line charts below the figures. */
  series?: Series[]
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

/** Every run of a mode, oldest first. */
export function runsOf(root: string, mode: 'quick' | 'full'): BenchRun[] {
  let files: string[]
  try {
    files = readdirSync(resultsDir(root)).filter((f) => f.endsWith(`-${mode}.json`)).sort()
  } catch {
    return []
  }
  return files.map((f) => JSON.parse(readFileSync(join(resultsDir(root), f), 'utf8')) as BenchRun)
}

/** Where a composed experiment's figures come from. */
export interface Source {
  id: string
  commit: string
  startedAt: string
  /** Runs on machines of the same size can still differ in processor. */
  cpu: string
}

export type ComposedRun = BenchRun & { sources: Record<string, Source> }

/**
 * The newest figures of every experiment over runs of one mode (oldest
 * first): a run of a few experiments (`--only`) replaces theirs and keeps the
 * others. An experiment that failed gives way to an older success, and shows
 * only when it never succeeded. The machine is the newest run's.
 */
export function composeRuns(runs: BenchRun[]): ComposedRun | undefined {
  const newest = runs.at(-1)
  if (!newest) return undefined
  const experiments: Record<string, Experiment> = {}
  const sources: Record<string, Source> = {}
  for (const run of runs) {
    for (const [name, e] of Object.entries(run.experiments)) {
      if (e.error && experiments[name] && !experiments[name].error) continue
      experiments[name] = e
      sources[name] = { id: run.id, commit: run.machine.commit, startedAt: run.startedAt, cpu: run.machine.cpu }
    }
  }
  return { ...newest, experiments, sources }
}

/** The newest run of a mode, if any. */
export const latestRun = (root: string, mode: 'quick' | 'full'): BenchRun | undefined => runsOf(root, mode).at(-1)

export const isComposed = (run: BenchRun | ComposedRun): run is ComposedRun => 'sources' in run
