import { decodeEvent, decodeOutput } from '@ridepulse/contracts'
import { endOffsets, type ConsumedRecord, type KafkaSettings } from '@ridepulse/kafka'
import type { DeclaredLate, InputEvent } from './lateness.js'
import { readWholeTopic, streamPartition } from './read-topic.js'
import { InputDiff, Verification, type VerifyReport, type VerifyRule } from './verify.js'

export interface VerifierReport extends VerifyReport {
  /** Output records decodeOutput refused: the pipeline wrote something it should not have. */
  undecodableOutput: number
  /** Late-topic records without a readable eventId and watermark. */
  unreadableLate: number
  /** Records of the shards' input that are not enriched events. */
  undecodableInput: number
}

/** A late record's event (its id, and its position when the record has it) and the watermark the pipeline judged it by. */
function readLate(value: Buffer | null): DeclaredLate | undefined {
  if (!value) return undefined
  try {
    const v = JSON.parse(value.toString('utf8')) as { eventId?: unknown; watermark?: unknown; shard?: unknown; offset?: unknown }
    if (typeof v !== 'object' || v === null || typeof v.eventId !== 'string' || v.eventId === '' || typeof v.watermark !== 'number') return undefined
    const position = Number.isInteger(v.shard) && Number.isInteger(v.offset) ? { shard: v.shard as number, offset: v.offset as number } : {}
    return { eventId: v.eventId, watermark: v.watermark, ...position }
  } catch {
    return undefined // counted by the caller as unreadable
  }
}

/**
 * Reads the raw, enriched, late and output topics (read_committed), decides
 * lateness itself from each shard's input and the event-time rule, and
 * checks the output against the truth computed from the raw input. The
 * late topic is read whole; the others stream through `Verification`, so a
 * run of tens of millions of events is checked in the memory of its windows.
 */
export async function runVerifier(
  settings: KafkaSettings,
  topics: { orders: string; enriched: string; late: string; output: string },
  partitions: { orders: number; shards: number },
  rule: VerifyRule,
): Promise<VerifierReport> {
  // The output's end is taken first: everything final in it was computed
  // from input that is already in the other topics when their ends are
  // taken after it. Every read then stops at the end taken here.
  const outputEnds = await endOffsets(settings, topics.output, partitions.shards)
  const lateRecords = await readWholeTopic(settings, topics.late, partitions.shards)
  const [rawEnds, inputEnds] = await Promise.all([endOffsets(settings, topics.orders, partitions.orders), endOffsets(settings, topics.enriched, partitions.shards)])

  const declaredLate: DeclaredLate[] = []
  let unreadableLate = 0
  for (const r of lateRecords) {
    const late = readLate(r.value)
    if (late === undefined) unreadableLate++
    else declaredLate.push(late)
  }

  const v = new Verification(rule, declaredLate)
  let undecodableInput = 0
  let undecodableOutput = 0
  const eachInput = (take: (e: InputEvent) => void, counting: boolean) => (records: readonly ConsumedRecord[]) => {
    for (const r of records) {
      const e = decodeEvent(r.value)
      if (e) take({ ...e, offset: r.offset })
      else if (counting) undecodableInput++
    }
  }
  const readRaw = (take: (value: Buffer | null, timestamp: number) => void) =>
    rawEnds.map((end, p) =>
      streamPartition(settings, topics.orders, p, end, (records) => {
        for (const r of records) take(r.value, r.timestamp)
      }),
    )

  await Promise.all([
    // Output partitions one after another, so a window's records are seen in one order.
    (async () => {
      for (let p = 0; p < partitions.shards; p++) {
        await streamPartition(settings, topics.output, p, outputEnds[p] ?? 0, (records) => {
          for (const r of records) {
            try {
              if (!r.value) throw new Error('no value')
              v.addOutput(decodeOutput(r.value))
            } catch {
              undecodableOutput++ // reported below, and the verdict fails
            }
          }
        })
      }
    })(),
    ...readRaw((value, timestamp) => v.addRaw(value, timestamp)),
    ...inputEnds.map((end, s) => streamPartition(settings, topics.enriched, s, end, eachInput((e) => v.addInput(s, e), true))),
  ])

  // Where the two inputs differ, a second reading of the same ranges names the events, if they are few enough to hold.
  const mismatched = v.mismatchedWindows()
  let diff: ReturnType<InputDiff['result']> | undefined
  const events = [...mismatched.values()].reduce((sum, w) => sum + w.raw + w.input, 0)
  if (mismatched.size > 0 && events <= InputDiff.MAX_EVENTS) {
    const d = new InputDiff(new Set(mismatched.keys()), rule)
    await Promise.all([...readRaw((value, timestamp) => d.addRaw(value, timestamp)), ...inputEnds.map((end, s) => streamPartition(settings, topics.enriched, s, end, eachInput((e) => d.addInput(e), false)))])
    diff = d.result()
  }

  const report = v.finish(diff)
  const problems = [...report.problems]
  if (undecodableOutput > 0) problems.unshift(`${undecodableOutput} output records could not be decoded`)
  if (unreadableLate > 0) problems.unshift(`${unreadableLate} late records carry no eventId or watermark`)
  if (undecodableInput > 0) problems.unshift(`${undecodableInput} records of the shards' input are not enriched events`)
  return {
    ...report,
    undecodableOutput,
    unreadableLate,
    undecodableInput,
    ok: report.ok && undecodableOutput === 0 && unreadableLate === 0 && undecodableInput === 0,
    problems: problems.slice(0, 20),
  }
}

/**
 * Windows of the output with records but no final yet: a read of the output
 * alone, much cheaper than a verification, to wait on while the last windows
 * close (records that do not decode are left to the verifier).
 */
export async function openWindows(settings: KafkaSettings, output: string, partitions: number): Promise<number> {
  const ends = await endOffsets(settings, output, partitions)
  const open = new Set<string>()
  for (const [p, end] of ends.entries()) {
    await streamPartition(settings, output, p, end, (records) => {
      for (const r of records) {
        if (!r.value) continue
        try {
          const o = decodeOutput(r.value)
          const key = `${o.zone}|${o.windowStart}`
          if (o.final) open.delete(key)
          else open.add(key)
        } catch {
          // the verifier reports it
        }
      }
    })
  }
  return open.size
}
