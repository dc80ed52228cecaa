/**
 * Client-side half of read_committed. A read_committed fetch stops at the
 * last stable offset, and lists the transactions aborted in the range it
 * returns; the broker may still send their batches, so the reader drops them:
 * a batch of an aborted producer is skipped from that transaction's first
 * offset until the producer's ABORT marker. Control batches (the commit and
 * abort markers themselves) are never records. This is what the Java
 * consumer does; the raw fetch used for direct assignment leaves it to us.
 */

export interface BatchLike<R> {
  firstOffset: bigint
  lastOffsetDelta: number
  attributes: number
  producerId: bigint
  records: R[]
}

export interface AbortedTxn {
  producerId: bigint
  firstOffset: bigint
}

const TRANSACTIONAL = 0x10
const CONTROL = 0x20
const ABORT_MARKER = 0

/** The control record type: 0 ABORT, 1 COMMIT (key: int16 version, int16 type). */
export function controlType(key: Buffer | null | undefined): number | undefined {
  return key && key.length >= 4 ? key.readInt16BE(2) : undefined
}

export function* committedBatches<R extends { key: Buffer | null }, B extends BatchLike<R>>(
  batches: readonly B[],
  aborted: readonly AbortedTxn[],
): Generator<B> {
  const pending = [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0))
  const abortedProducers = new Set<bigint>()
  let next = 0
  for (const batch of batches) {
    const transactional = (batch.attributes & TRANSACTIONAL) !== 0
    if (transactional) {
      const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta)
      while (next < pending.length && pending[next]!.firstOffset <= lastOffset) abortedProducers.add(pending[next++]!.producerId)
    }
    if ((batch.attributes & CONTROL) !== 0) {
      if (transactional && controlType(batch.records[0]?.key) === ABORT_MARKER) abortedProducers.delete(batch.producerId)
      continue
    }
    if (transactional && abortedProducers.has(batch.producerId)) continue
    yield batch
  }
}
