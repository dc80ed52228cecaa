import * as hdr from 'hdr-histogram-js'

/** Percentiles of a sample, from an HDR histogram (3 significant digits), never from averaged percentiles. */
export interface Summary {
  n: number
  min: number
  p50: number
  p95: number
  p99: number
  max: number
  mean: number
}

/** Samples in milliseconds (fractions kept to the microsecond). */
export function summarize(samplesMs: number[]): Summary {
  if (samplesMs.length === 0) return { n: 0, min: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 }
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 24 * 3_600_000_000, numberOfSignificantValueDigits: 3, bitBucketSize: 64 })
  for (const ms of samplesMs) h.recordValue(Math.max(1, Math.round(ms * 1000)))
  const at = (p: number) => h.getValueAtPercentile(p) / 1000
  const s = { n: samplesMs.length, min: h.minNonZeroValue / 1000, p50: at(50), p95: at(95), p99: at(99), max: h.maxValue / 1000, mean: h.mean / 1000 }
  h.destroy()
  return s
}

/** The middle element by `by` (the lower middle of an even count). */
export const medianBy = <T>(xs: readonly T[], by: (x: T) => number): T => [...xs].sort((a, b) => by(a) - by(b))[Math.floor((xs.length - 1) / 2)]!
