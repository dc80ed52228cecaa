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
