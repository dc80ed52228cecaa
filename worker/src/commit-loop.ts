import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { describeError, ProducerFencedError, type BatchProducer, type OutgoingRecord, type SendResult } from '@ridepulse/kafka'
import type { WorkerHooks } from './hooks.js'
import type { Metrics } from './metrics.js'
import { ProcessRestartRequiredError } from './store/state-store.js'

/** What OpA and OpB each bring to the loop they share. */
export interface CommitUnit {
  readonly producer: BatchProducer
  /** One commit interval: read, process, commit. */
  interval(): Promise<void>
  /** What a failed interval teaches the unit before it goes back to its last committed point. */
  failed(err: unknown): void
  /** Back to the last committed point: OpA fences and reads its positions again, OpB recovers. */
  restart(): Promise<void>
  readonly stopping: boolean
}

/**
 * Runs commit intervals until the unit stops. A failed interval is aborted
 * and the unit goes back to its last committed point, retried with a growing
 * pause (the broker may be away for a while, a restart say). A producer told
 * that another process owns its transactional id never registers again: its
 * InitProducerId could abort the owner's open transaction (see
 * TxnProducer.fence). The loop then throws, and the process exits; so it
 * does when the process must restart to recover (ProcessRestartRequiredError).
 */
export async function runCommitLoop(unit: CommitUnit, log: Logger, metrics: Metrics): Promise<void> {
  while (!unit.stopping) {
    try {
      await unit.interval()
    } catch (err) {
      if (unit.stopping) break
      metrics.transactions.inc({ outcome: 'aborted' })
      unit.failed(err)
      if (err instanceof ProcessRestartRequiredError) throw err
      if (unit.producer.fenced) {
        log.error({ err }, 'producer fenced; stopping without registering again')
        throw err
      }
      log.error({ err }, 'commit interval failed; aborting and going back to the last committed point')
      await unit.producer.abort().catch((abortErr: unknown) => log.warn({ err: abortErr }, 'abort failed'))
      // The restart's fence ends what is still open with this process's
      // epoch; if another process owns the id by now, it throws and we exit.
      for (let attempt = 0; !unit.stopping; attempt++) {
        await sleep(Math.min(200 * 2 ** attempt, 5000))
        try {
          await unit.restart()
          break
        } catch (restartErr) {
          if (restartErr instanceof ProducerFencedError || restartErr instanceof ProcessRestartRequiredError) throw restartErr
          unit.failed(restartErr)
          log.warn({ err: restartErr, attempt, error: describeError(restartErr) }, 'restart attempt failed; retrying')
        }
      }
    }
  }
}

/**
 * One transaction: records, and input positions when the unit keeps them in
 * a consumer group, committed together, with the test hooks' commit points
 * between the steps.
 */
export async function transact(
  producer: BatchProducer,
  hooks: WorkerHooks,
  commitNo: number,
  records: OutgoingRecord[],
  offsets?: { groupId: string; coordinatorId: number; positions: { topic: string; partition: number; nextOffset: number }[] },
): Promise<SendResult> {
  await producer.begin()
  const sent = await producer.send(records)
  if (offsets) await producer.sendOffsets(offsets.groupId, offsets.coordinatorId, offsets.positions)
  hooks.commitPoint?.('during-commit', commitNo)
  await producer.commit()
  hooks.commitPoint?.('after-commit', commitNo)
  return sent
}
