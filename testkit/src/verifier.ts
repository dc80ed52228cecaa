import { decodeEvent, decodeOutput, type OutputRecord } from '@ridepulse/contracts'
import type { DeclaredLate, InputEvent } from './lateness.js'
import { verifyOutput, type VerifyReport, type VerifyRule } from './verify.js'
import { readToEnd, type KafkaSettings } from '@ridepulse/kafka'
import { readWholeTopic } from './read-topic.js'

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
 * Reads the raw, enriched, late and output topics whole (read_committed),
 * decides lateness itself from each shard's input and the event-time rule,
 * and checks the output against the truth computed from the raw input.
 */
export async function runVerifier(
  settings: KafkaSettings,
  topics: { orders: string; enriched: string; late: string; output: string },
  partitions: { orders: number; shards: number },
  rule: VerifyRule,
): Promise<VerifierReport> {
  // The output is read first: everything final in it was computed from input
  // that is already in the other topics when they are read after it.
  const outputRecords = await readWholeTopic(settings, topics.output, partitions.shards)
  const [raw, lateRecords, ...inputs] = await Promise.all([
    readWholeTopic(settings, topics.orders, partitions.orders),
    readWholeTopic(settings, topics.late, partitions.shards),
    ...Array.from({ length: partitions.shards }, (_, s) => readToEnd(settings, topics.enriched, s)),
  ])

  const declaredLate: DeclaredLate[] = []
  let unreadableLate = 0
  for (const r of lateRecords) {
    const late = readLate(r.value)
    if (late === undefined) unreadableLate++
    else declaredLate.push(late)
  }

  let undecodableInput = 0
  const shardInputs: InputEvent[][] = inputs.map((records) =>
    records.flatMap((r) => {
      const e = decodeEvent(r.value)
      if (!e) undecodableInput++
      return e ? [{ ...e, offset: r.offset }] : []
    }),
  )

  const output: OutputRecord[] = []
  let undecodableOutput = 0
  for (const r of outputRecords) {
    if (!r.value) {
      undecodableOutput++
      continue
    }
    try {
      output.push(decodeOutput(r.value))
    } catch {
      undecodableOutput++ // reported below, and the verdict fails
    }
  }

  const report = verifyOutput({ raw, shardInputs, declaredLate, output, rule })
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
