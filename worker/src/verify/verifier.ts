import { decodeOutput, type OutputRecord } from '../core/records.js'
import { verifyOutput, type VerifyReport } from '../core/verify.js'
import type { KafkaSettings } from '../kafka/client.js'
import { readWholeTopic } from './read-topic.js'

export interface VerifierReport extends VerifyReport {
  /** Output records decodeOutput refused: the pipeline wrote something it should not have. */
  undecodableOutput: number
  /** Late-topic records without a readable eventId; their events stay in the truth. */
  unreadableLate: number
  /** Late-topic records whose watermark had not passed the event's window: the pipeline dropped a countable event. */
  unjustifiedLate: number
}

/** A late record's event id, and whether the watermark it carries had passed the event's window at all. */
function readLate(value: Buffer | null, windowSizeMs: number): { id: string; justified: boolean } | undefined {
  if (!value) return undefined
  try {
    const v = JSON.parse(value.toString('utf8')) as { eventId?: unknown; windowStart?: unknown; watermark?: unknown }
    if (typeof v !== 'object' || v === null || typeof v.eventId !== 'string' || v.eventId === '') return undefined
    const justified = typeof v.windowStart === 'number' && typeof v.watermark === 'number' && v.watermark >= v.windowStart + windowSizeMs
    return { id: v.eventId, justified }
  } catch {
    return undefined // counted by the caller as unreadable
  }
}

/**
 * Reads the raw, late and output topics whole (read_committed) and checks the
 * output against the truth computed from the raw input.
 */
export async function runVerifier(
  settings: KafkaSettings,
  topics: { orders: string; late: string; output: string },
  partitions: { orders: number; late: number; output: number },
  windowSizeMs: number,
): Promise<VerifierReport> {
  // The output is read first: everything final in it was computed from input
  // that is already in the raw and late topics when they are read after it.
  const outputRecords = await readWholeTopic(settings, topics.output, partitions.output)
  const [raw, lateRecords] = await Promise.all([
    readWholeTopic(settings, topics.orders, partitions.orders),
    readWholeTopic(settings, topics.late, partitions.late),
  ])

  // The pipeline's word decides which events were late, so it is checked:
  // an event may only be late once the watermark has passed its window's end.
  const lateEventIds: string[] = []
  let unreadableLate = 0
  let unjustifiedLate = 0
  for (const r of lateRecords) {
    const late = readLate(r.value, windowSizeMs)
    if (late === undefined) unreadableLate++
    else {
      lateEventIds.push(late.id)
      if (!late.justified) unjustifiedLate++
    }
  }

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

  const report = verifyOutput({ raw, lateEventIds, output, windowSizeMs })
  const problems = [...report.problems]
  if (undecodableOutput > 0) problems.unshift(`${undecodableOutput} output records could not be decoded`)
  if (unreadableLate > 0) problems.unshift(`${unreadableLate} late records carry no eventId`)
  if (unjustifiedLate > 0) problems.unshift(`${unjustifiedLate} events were declared late before the watermark passed their window`)
  return {
    ...report,
    undecodableOutput,
    unreadableLate,
    unjustifiedLate,
    ok: report.ok && undecodableOutput === 0 && unjustifiedLate === 0,
    problems: problems.slice(0, 20),
  }
}
