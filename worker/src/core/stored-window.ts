import type { WindowAgg } from './aggregate.js'
import { CorruptRecordError } from '@ridepulse/contracts'

/**
 * A window's value in the shard's store: one flags byte (bit 0: final), then
 * requested, matched, completed, cancelled, seq and rev as unsigned LEB128
 * varints. Typically 8–12 bytes, where a generic object encoding that repeats
 * the field names took 63: the store, and so every snapshot copied and
 * checksummed at recovery, is less than half the size, and a replayed record
 * costs less to write.
 */

const FINAL = 0x01
const FIELDS = 6
/** 8 varint bytes hold 56 bits, past the largest safe integer. */
const MAX_VARINT_BYTES = 8
const scratch = new Uint8Array(1 + FIELDS * MAX_VARINT_BYTES)

function writeVarint(at: number, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`stored window: ${n} is not a count`)
  while (n >= 0x80) {
    scratch[at++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  scratch[at++] = n
  return at
}

export function encodeStoredWindow(a: WindowAgg): Buffer {
  scratch[0] = a.final ? FINAL : 0
  let at = writeVarint(1, a.requested)
  at = writeVarint(at, a.matched)
  at = writeVarint(at, a.completed)
  at = writeVarint(at, a.cancelled)
  at = writeVarint(at, a.seq)
  at = writeVarint(at, a.rev)
  return Buffer.from(scratch.subarray(0, at))
}

export function decodeStoredWindow(b: Uint8Array): WindowAgg {
  const flags = b[0]
  if (flags === undefined || (flags & ~FINAL) !== 0) throw new CorruptRecordError(`stored window: flags ${flags}`)
  const vals = [0, 0, 0, 0, 0, 0]
  let at = 1
  for (let f = 0; f < FIELDS; f++) {
    let n = 0
    let mul = 1
    for (let k = 0; ; k++) {
      if (at >= b.length || k >= MAX_VARINT_BYTES) throw new CorruptRecordError(`stored window: field ${f} is cut short or too long`)
      const byte = b[at++]!
      n += (byte & 0x7f) * mul
      if (byte < 0x80) break
      mul *= 0x80
    }
    if (n > Number.MAX_SAFE_INTEGER) throw new CorruptRecordError(`stored window: field ${f} is past the safe integers`)
    vals[f] = n
  }
  if (at !== b.length) throw new CorruptRecordError(`stored window: ${b.length - at} bytes past its end`)
  return { requested: vals[0]!, matched: vals[1]!, completed: vals[2]!, cancelled: vals[3]!, seq: vals[4]!, rev: vals[5]!, final: (flags & FINAL) !== 0 }
}
