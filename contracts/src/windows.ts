/** Tumbling event-time windows: [start, start + size). */
export function windowStart(tsMs: number, sizeMs: number): number {
  return tsMs - (((tsMs % sizeMs) + sizeMs) % sizeMs)
}

export function windowEnd(startMs: number, sizeMs: number): number {
  return startMs + sizeMs
}

/**
 * A window is final once the watermark has passed its end plus the allowed
 * lateness: no event that can still be accepted falls into it.
 */
export function isFinal(startMs: number, sizeMs: number, latenessMs: number, watermarkMs: number): boolean {
  return watermarkMs >= startMs + sizeMs + latenessMs
}

/** The first window start that is not final yet at this watermark. */
export function firstOpenWindowStart(sizeMs: number, latenessMs: number, watermarkMs: number): number {
  // isFinal(s) <=> s <= watermark - size - lateness
  return windowStart(watermarkMs - sizeMs - latenessMs, sizeMs) + sizeMs
}

/** The key of a zone's window: in a shard's state, and wherever windows are compared. */
export function windowKey(zone: string, windowStartMs: number): string {
  return `${zone}|${windowStartMs}`
}

export function parseWindowKey(key: string): { zone: string; windowStart: number } | undefined {
  const i = key.lastIndexOf('|')
  if (i <= 0) return undefined
  const windowStart = Number(key.slice(i + 1))
  return Number.isSafeInteger(windowStart) ? { zone: key.slice(0, i), windowStart } : undefined
}

/**
 * An event's supported time: its event time, but never past its ingest time.
 * One device whose clock runs ahead may count in its own window but cannot
 * move the watermark past the rest of the shard's traffic.
 */
export const supportedEventTime = (e: { ts: number; ingestMs: number }): number => Math.min(e.ts, e.ingestMs)
