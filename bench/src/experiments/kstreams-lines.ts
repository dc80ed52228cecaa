/**
 * The Kafka Streams peer (bench/peers/kafka-streams) reports on stdout, one
 * JSON object per line: `start`, `state` (every state change), `restore-start`
 * and `restore-end` (per changelog partition), `tasks` (the instance's active
 * and standby tasks, on every change), `skipped`, `error`, `stopped`.
 * Pure: lines in, values out.
 */

export type PeerLine =
  | { event: 'start'; at: number; jvmStartedAt: number }
  | { event: 'state'; at: number; from: string; to: string }
  | { event: 'restore-start'; at: number; store: string; topic: string; partition: number; startOffset: number; endOffset: number }
  | { event: 'restore-end' | 'restore-suspended'; at: number; store: string; topic: string; partition: number; records: number; ms: number }
  | { event: 'tasks'; at: number; active: string[]; standby: string[] }
  | { event: 'skipped'; at: number; records: number }
  | { event: 'error'; at: number; message: string }
  | { event: 'stopped'; at: number; skipped: number }

type Fields = Record<string, unknown>

const num = (o: Fields, k: string): boolean => typeof o[k] === 'number' && Number.isFinite(o[k])
const str = (o: Fields, k: string): boolean => typeof o[k] === 'string'
const nums = (o: Fields, ...ks: string[]) => ks.every((k) => num(o, k))
const strs = (o: Fields, ...ks: string[]) => ks.every((k) => str(o, k))
const strLists = (o: Fields, ...ks: string[]) => ks.every((k) => Array.isArray(o[k]) && (o[k] as unknown[]).every((x) => typeof x === 'string'))

/** Which fields each event must carry, and of what type. */
const SHAPES: Record<PeerLine['event'], (o: Fields) => boolean> = {
  start: (o) => nums(o, 'jvmStartedAt'),
  state: (o) => strs(o, 'from', 'to'),
  'restore-start': (o) => strs(o, 'store', 'topic') && nums(o, 'partition', 'startOffset', 'endOffset'),
  'restore-end': (o) => strs(o, 'store', 'topic') && nums(o, 'partition', 'records', 'ms'),
  'restore-suspended': (o) => strs(o, 'store', 'topic') && nums(o, 'partition', 'records', 'ms'),
  tasks: (o) => strLists(o, 'active', 'standby'),
  skipped: (o) => nums(o, 'records'),
  error: (o) => strs(o, 'message'),
  stopped: (o) => nums(o, 'skipped'),
}

/** One stdout line of the peer, or undefined for anything else (a stray line is not an error: the JVM may print its own). */
export function parsePeerLine(line: string): PeerLine | undefined {
  const text = line.trim()
  if (!text.startsWith('{')) return undefined
  let o: unknown
  try {
    o = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return undefined
  const fields = o as Fields
  const event = fields.event
  if (typeof event !== 'string' || !(event in SHAPES) || !num(fields, 'at')) return undefined
  return SHAPES[event as PeerLine['event']](fields) ? (fields as unknown as PeerLine) : undefined
}

export interface RestoreSummary {
  /** Changelog partitions restored to their end. */
  partitions: number
  records: number
  /** First restore start to last restore end, wall clock (partitions may restore side by side). */
  ms: number
  /** Restores begun and not finished (suspended, or cut short by a kill). */
  unfinished: number
}

/** The restore phase of one process lifetime, from its lines. */
export function restoreSummary(lines: readonly PeerLine[]): RestoreSummary {
  let first = Infinity
  let last = -Infinity
  let records = 0
  let partitions = 0
  const open = new Set<string>()
  for (const l of lines) {
    if (l.event === 'restore-start') {
      open.add(`${l.store}/${l.topic}/${l.partition}`)
      first = Math.min(first, l.at)
    } else if (l.event === 'restore-end') {
      open.delete(`${l.store}/${l.topic}/${l.partition}`)
      records += l.records
      partitions++
      last = Math.max(last, l.at)
    }
  }
  return { partitions, records, ms: partitions > 0 && Number.isFinite(first) ? last - first : 0, unfinished: open.size }
}

/** The tasks the instance last reported, active and standby (none before its first report). */
export function currentTasks(lines: readonly PeerLine[]): { active: string[]; standby: string[]; at: number } {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!
    if (l.event === 'tasks') return { active: l.active, standby: l.standby, at: l.at }
  }
  return { active: [], standby: [], at: 0 }
}

/** When the process first reached RUNNING, if it has. */
export const runningAt = (lines: readonly PeerLine[]): number | undefined => lines.find((l) => l.event === 'state' && l.to === 'RUNNING')?.at

/** The first fatal report, if any: an uncaught error or the ERROR state. */
export function failure(lines: readonly PeerLine[]): string | undefined {
  const err = lines.find((l) => l.event === 'error')
  if (err && err.event === 'error') return err.message
  return lines.some((l) => l.event === 'state' && l.to === 'ERROR') ? 'the Kafka Streams client went to ERROR' : undefined
}

/** The sum of the four counts of an output value of the peer (`{"requested":…,"matched":…,"completed":…,"cancelled":…}`). */
export function peerTotal(value: string): number | undefined {
  let o: unknown
  try {
    o = JSON.parse(value)
  } catch {
    return undefined
  }
  if (typeof o !== 'object' || o === null) return undefined
  const c = o as Fields
  return nums(c, 'requested', 'matched', 'completed', 'cancelled') ? (c.requested as number) + (c.matched as number) + (c.completed as number) + (c.cancelled as number) : undefined
}

/**
 * ours / theirs, rounded to three significant digits; undefined when either
 * side is missing or theirs is zero. Below 1 for times means ours is faster;
 * above 1 for rates means ours is faster.
 */
export function ratio(ours: number | undefined, theirs: number | undefined): number | undefined {
  if (ours === undefined || theirs === undefined || !Number.isFinite(ours) || !Number.isFinite(theirs) || theirs === 0) return undefined
  return Number((ours / theirs).toPrecision(3))
}
