import type { OutputRecord } from '@ridepulse/contracts'

const pad = (s: string | number, n: number) => String(s).padStart(n)
const time = (ms: number) => new Date(ms).toISOString().slice(11, 19)

/** The terminal board: the newest windows, hottest zones first (by requested, then by unmet demand). */
export function renderBoard(latest: Map<string, OutputRecord>, opts: { windows: number; zones: number }): string {
  const starts = [...new Set([...latest.values()].map((o) => o.windowStart))].sort((a, b) => b - a).slice(0, opts.windows)
  const lines: string[] = []
  for (const start of starts) {
    const rows = [...latest.values()].filter((o) => o.windowStart === start).sort((a, b) => b.requested - a.requested || b.requested - b.matched - (a.requested - a.matched))
    const total = rows.reduce((n, o) => n + o.requested, 0)
    const finals = rows.filter((o) => o.final).length
    lines.push(`window ${time(start)}–${time(start + (rows[0] ? rows[0].windowEnd - rows[0].windowStart : 0))}  zones ${rows.length}  requested ${total}  final ${finals}/${rows.length}`)
    lines.push(`  ${'zone'.padEnd(18)}${pad('requested', 10)}${pad('matched', 9)}${pad('completed', 10)}${pad('cancelled', 10)}${pad('unmet', 7)}  rev`)
    for (const o of rows.slice(0, opts.zones)) {
      lines.push(
        `  ${o.zone.padEnd(18)}${pad(o.requested, 10)}${pad(o.matched, 9)}${pad(o.completed, 10)}${pad(o.cancelled, 10)}${pad(Math.max(0, o.requested - o.matched), 7)}  ${o.rev}${o.final ? ' final' : ''}`,
      )
    }
  }
  return lines.join('\n')
}
