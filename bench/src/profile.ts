import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { originalPositionFor, TraceMap } from '@jridgewell/trace-mapping'

/**
 * A V8 CPU profile (`node --cpu-prof`) summed up: where a process spent its
 * time, by function and by area (our packages, the Kafka client, zod, JSON,
 * the store, Node itself, the garbage collector). Functions of a bundle are
 * named after their original file through its source map.
 */

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
  columnNumber: number
}

export interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; hitCount?: number }[]
  startTime: number
  endTime: number
  samples?: number[]
  timeDeltas?: number[]
}

export interface ProfileSummary {
  /** Wall time the profile covers, and the part of it spent running (not idle). */
  wallMs: number
  busyMs: number
  areas: { area: string; ms: number; share: number }[]
  functions: { fn: string; area: string; ms: number; share: number }[]
}

/** What an original source path belongs to. */
export function areaOf(source: string, fn: string): string {
  if (fn === '(idle)') return 'idle'
  if (fn === '(garbage collector)') return 'garbage collector'
  if (fn === '(program)' || fn === '(root)') return 'V8 and native'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(source)?.[1]
  if (pkg === '@platformatic/kafka') return 'Kafka client'
  if (pkg) return pkg
  const ours = /(?:^|\/)(worker|contracts|kafka|testkit)\/(?:src|dist)\//.exec(source)?.[1]
  if (ours) return `@ridepulse/${ours}`
  if (source.startsWith('node:') || source === '') return fn === 'parse' || fn === 'stringify' ? 'JSON' : 'Node'
  return 'other'
}

/** A source path made short: from the package on. */
function shortSource(source: string): string {
  if (source.includes('node_modules/')) return source.replace(/^.*node_modules\//, '')
  return source.replace(/^.*\/((?:worker|contracts|kafka|testkit)\/(?:src|dist)\/)/, '$1').replace(/^file:\/\//, '')
}

/** Time per sample node: the deltas V8 records, or hit counts times the mean interval. */
function selfTimes(p: CpuProfile): Map<number, number> {
  const t = new Map<number, number>()
  if (p.samples && p.timeDeltas && p.samples.length === p.timeDeltas.length) {
    // A delta is the time before its sample: it is charged to the sample before it.
    for (let i = 0; i < p.samples.length - 1; i++) t.set(p.samples[i]!, (t.get(p.samples[i]!) ?? 0) + p.timeDeltas[i + 1]!)
    return t
  }
  const hits = p.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0)
  const each = hits > 0 ? (p.endTime - p.startTime) / hits : 0
  for (const n of p.nodes) t.set(n.id, (n.hitCount ?? 0) * each)
  return t
}

export function summarizeProfile(p: CpuProfile, top = 15): ProfileSummary {
  const maps = new Map<string, TraceMap | null>()
  const mapFor = (url: string): TraceMap | null => {
    if (!maps.has(url)) {
      let m: TraceMap | null = null
      try {
        const file = url.startsWith('file:') ? fileURLToPath(url) : ''
        if (file && existsSync(`${file}.map`)) m = new TraceMap(readFileSync(`${file}.map`, 'utf8'), url)
      } catch {
        m = null
      }
      maps.set(url, m)
    }
    return maps.get(url)!
  }
  const self = selfTimes(p)
  const byFn = new Map<string, { area: string; us: number }>()
  const byArea = new Map<string, number>()
  for (const n of p.nodes) {
    const us = self.get(n.id) ?? 0
    if (us === 0) continue
    const cf = n.callFrame
    let source = cf.url
    let name = cf.functionName || '(anonymous)'
    const m = cf.url ? mapFor(cf.url) : null
    if (m && cf.lineNumber >= 0) {
      const o = originalPositionFor(m, { line: cf.lineNumber + 1, column: Math.max(0, cf.columnNumber) })
      if (o.source) {
        source = o.source
        name = `${name} (${shortSource(o.source)}:${o.line})`
      }
    } else if (cf.url) {
      name = `${name} (${shortSource(cf.url)}:${cf.lineNumber + 1})`
    }
    const area = areaOf(source, cf.functionName)
    const e = byFn.get(name) ?? { area, us: 0 }
    e.us += us
    byFn.set(name, e)
    byArea.set(area, (byArea.get(area) ?? 0) + us)
  }
  const wallMs = (p.endTime - p.startTime) / 1000
  const busyMs = wallMs - (byArea.get('idle') ?? 0) / 1000
  const share = (us: number) => Math.round((us / 1000 / Math.max(1, busyMs)) * 1000) / 10
  return {
    wallMs: Math.round(wallMs),
    busyMs: Math.round(busyMs),
    areas: [...byArea].filter(([a]) => a !== 'idle').sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, ms: Math.round(us / 1000), share: share(us) })),
    functions: [...byFn].filter(([, e]) => e.area !== 'idle').sort((a, b) => b[1].us - a[1].us).slice(0, top).map(([fn, e]) => ({ fn, area: e.area, ms: Math.round(e.us / 1000), share: share(e.us) })),
  }
}

/** The summary as text: areas, then the functions with the most time of their own. */
export function formatProfile(name: string, s: ProfileSummary): string {
  const lines = [`## ${name}: ${s.busyMs} ms busy of ${s.wallMs} ms`, '', '| area | ms | share of busy |', '| --- | ---: | ---: |']
  for (const a of s.areas) lines.push(`| ${a.area} | ${a.ms} | ${a.share}% |`)
  lines.push('', '| function (self time) | area | ms | share |', '| --- | --- | ---: | ---: |')
  for (const f of s.functions) lines.push(`| ${f.fn.replaceAll('|', '\\|')} | ${f.area} | ${f.ms} | ${f.share}% |`)
  return lines.join('\n')
}
