import { z } from 'zod'

/**
 * What a worker's `/status` says of itself, the part other programs read:
 * the board (how far a recovering shard has come) and the operator (the
 * worker's own report of its last recovery, copied into the resource).
 */

/** An OpB shard's phases, in the order of a recovery. */
export const OPB_PHASES = ['starting', 'standby', 'fencing', 'loading-snapshot', 'replaying', 'running', 'stopping', 'stopped', 'failed'] as const
export type OpbPhase = (typeof OPB_PHASES)[number]
/** The phases of a recovery, first to last: a shard in one of them is that far along. */
export const RECOVERY_STEPS: readonly OpbPhase[] = ['starting', 'fencing', 'loading-snapshot', 'replaying', 'running']

export interface RecoveryReport {
  startedAt: number
  readyAt: number
  timeToRecoverMs: number
  phasesMs: { fence: number; snapshotLoad: number; replay: number; resume: number }
  /** The snapshot restored: from the volume, or downloaded from the object store's copies (`downloadMs`). */
  snapshot: { snapshotId: string; kind: string; chain: number; bytes: number; source: 'local' | 'remote'; downloadMs?: number } | null
  rejectedSnapshots: { snapshotId: string; reason: string }[]
  publishedManifest: string | null
  replayedRecords: number
  replayedBytes: number
  changelogFrom: number
  changelogTo: number
  inputOffset: number
  keys: number
  /** A standby's takeover (`startedAt` is then when the owner's death was detected), and what ended the owner. */
  promotion?: { reason: string }
  /** First transaction committed after this recovery (the shard's output flowing again). */
  firstCommitAt: number | null
  timeToFirstCommitMs: number | null
}

/**
 * How far behind an OpB shard is: input records not yet processed; the age
 * of the newest input record processed while records wait (0 when caught
 * up); event time behind wall-clock time (the watermark's lag); time since
 * its last committed transaction (it commits nothing while idle); late
 * events per second over the last minute.
 */
export const shardLagSchema = z.object({
  records: z.number(),
  inputSeconds: z.number(),
  watermarkSeconds: z.number().nullable(),
  sinceCommitSeconds: z.number().nullable(),
  lateEventsPerSecond: z.number(),
})
export type ShardLag = z.infer<typeof shardLagSchema>

/** The fields of an OpB `/status` that readers rely on; others may be added freely. */
export const opbStatusSchema = z.object({
  shardLag: shardLagSchema.optional(),
  /** Present while the process stands by (STANDBY_ENABLED). */
  standby: z.object({ lagRecords: z.number() }).nullish(),
  promotions: z.number().optional(),
  /** The shard's takeovers by standby slot, carried from owner to owner in the announcements (a standby reports its owner's). */
  slotTakeovers: z.array(z.number()).nullish(),
  phase: z.enum(OPB_PHASES),
  lastRecovery: z
    .object({
      readyAt: z.number(),
      timeToRecoverMs: z.number(),
      snapshot: z.object({ snapshotId: z.string(), kind: z.string(), source: z.enum(['local', 'remote']).optional() }).nullable(),
      replayedRecords: z.number(),
      replayedBytes: z.number(),
      promotion: z.object({ reason: z.string() }).optional(),
      timeToFirstCommitMs: z.number().nullish(),
    })
    .nullish(),
})
export type OpbStatusView = z.infer<typeof opbStatusSchema>
