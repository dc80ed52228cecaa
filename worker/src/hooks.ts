import { TxnProducer, type BatchProducer, type KafkaSettings } from '@ridepulse/kafka'

/** The points of a commit where a test may stop the process (see the test kit's fault hook). */
export type CommitPoint = 'before-commit' | 'during-commit' | 'after-commit'

/**
 * Where a test may reach into a running worker. The shipped worker passes
 * none: every hook has a default that is the production behaviour.
 */
export interface WorkerHooks {
  /** OpB: after the fence completed, before the changelog's end and the manifest are read. */
  afterFence?: () => Promise<void>
  /**
   * At each commit, at three points of it: `before-commit` (the batch
   * applied in memory, nothing sent), `during-commit` (records sent in the
   * open transaction, not committed), `after-commit` (committed in Kafka,
   * the local store not yet written).
   */
  commitPoint?: (point: CommitPoint, commitNo: number) => void
  /** The producer batches are written with: a transactional one by default. */
  producer?: (settings: KafkaSettings, transactionalId: string) => BatchProducer
}

export const defaultProducer = (settings: KafkaSettings, transactionalId: string): BatchProducer => new TxnProducer(settings, transactionalId)
