import { decodeOutput, type OutputRecord } from '../core/records.js'
import { verifyOutput, type VerifyReport } from '../core/verify.js'
import type { KafkaSettings } from '../kafka/client.js'
import { readWholeTopic } from './read-topic.js'

export interface VerifierReport extends VerifyReport {
  /** Output records decodeOutput refused: the pipeline wrote something it should not have. */
  undecodableOutput: number
  /** Late-topic records without a readable eventId; their events stay in the truth. */
  unreadableLate: number
}

function lateEventId(value: Buffer | null): string | undefined {
  if (!value) return undefined
  try {
    const v: unknown = JSON.parse(value.toString('utf8'))
    const id = typeof v === 'object' && v !== null ? (v as { eventId?: unknown }).eventId : undefined
    return typeof id === 'string' && id !== '' ? id : undefined
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

  const lateEventIds: string[] = []
  let unreadableLate = 0
  for (const r of lateRecords) {
    const id = lateEventId(r.value)
    if (id === undefined) unreadableLate++
    else lateEventIds.push(id)
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
  return {
    ...report,
    undecodableOutput,
    unreadableLate,
    ok: report.ok && undecodableOutput === 0,
    problems: problems.slice(0, 20),
  }
}
