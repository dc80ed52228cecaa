/**
 * Splits records, in order, into runs of at most `maxBytes` of keys and
 * values each (a record larger than that goes alone). A broker refuses a
 * record batch above its `max.message.bytes` (1 MB by default), and the
 * client writes everything a call sends to one partition as one batch: a
 * commit that changes many windows must go out in several calls.
 */
export function chunkBySize<T extends { key?: Buffer | string; value: Buffer | null }>(records: readonly T[], maxBytes: number): T[][] {
  const chunks: T[][] = []
  let current: T[] = []
  let bytes = 0
  for (const r of records) {
    const size = sizeOf(r.key) + (r.value?.length ?? 0) + RECORD_OVERHEAD
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(r)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** Per-record framing in a batch (lengths, deltas, attributes), rounded up. */
const RECORD_OVERHEAD = 24

const sizeOf = (k: Buffer | string | undefined) => (k === undefined ? 0 : typeof k === 'string' ? Buffer.byteLength(k) : k.length)
