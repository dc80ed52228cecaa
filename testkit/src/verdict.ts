import type { VerifyReport, VerifyRule } from './verify.js'
import type { KafkaSettings } from '@ridepulse/kafka'
import { openWindows, runVerifier } from './verifier.js'
import { sleep, topicsFor } from './pipeline.js'

/**
 * Runs the verifier until every window is final and exact, or the time is up
 * (windows close only once the idle watermark has passed them); returns the
 * last report either way. Each pass waits first (within the time) until
 * every window of the output has its final: a pass over tens of millions of
 * events takes minutes, and one started just before the last finals would
 * only find them missing.
 */
export async function awaitVerdict(
  settings: KafkaSettings,
  /** The pipeline's name (its topics prefixed by it, `topicsFor`), or its topics. */
  pipeline: string | Pick<ReturnType<typeof topicsFor>, 'TOPIC_ORDERS' | 'TOPIC_ENRICHED' | 'TOPIC_LATE' | 'TOPIC_OUTPUT'>,
  partitions: { orders: number; shards: number },
  rule: VerifyRule,
  timeoutMs: number,
): Promise<VerifyReport> {
  const t = typeof pipeline === 'string' ? topicsFor(pipeline) : pipeline
  const deadline = Date.now() + timeoutMs
  for (;;) {
    while (Date.now() < deadline && (await openWindows(settings, t.TOPIC_OUTPUT, partitions.shards)) > 0) await sleep(500)
    const report = await runVerifier(
      settings,
      { orders: t.TOPIC_ORDERS, enriched: t.TOPIC_ENRICHED, late: t.TOPIC_LATE, output: t.TOPIC_OUTPUT },
      partitions,
      rule,
    )
    if (report.ok || Date.now() >= deadline) return report
    await sleep(1000)
  }
}
