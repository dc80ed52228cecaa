/** The e2e scenario's pipelines, ports and windows, shared by its rounds. */

export const NAME = 'rides'
export const SHARDS = 3
/** The standby round's pipeline: one shard, owned by one pod of a pair. */
export const HOT = 'rides-hot'
export const STANDBY_KILLS = 6
/** How long the operator waits before replacing a lost claim in this run (the default is 300 s). */
export const LOST_CLAIM_TIMEOUT_S = 10
export const STORE_SECRET = 'snapshot-store'
export const WORKER_PORT = 8080
/** Short windows, lateness and idle timeout so every window is final soon after the traffic stops. */
export const WINDOW_MS = 5000
export const LATENESS_MS = 500
export const OUT_OF_ORDERNESS_MS = 500
export const selector = (component: 'opa' | 'opb') => `app.kubernetes.io/instance=${NAME},app.kubernetes.io/component=${component}`

/** What the e2e reads of a worker's /status. */
export interface WorkerStatus {
  phase: string
  lastSnapshot: { snapshotId: string } | null
  remoteSnapshots: { uploads: number; failures: number; lastError: string | null } | null
  lastRecovery: {
    promotion?: { reason: string }
    startedAt: number
    readyAt: number
    timeToRecoverMs: number
    snapshot: { snapshotId: string; kind: string; source?: string; downloadMs?: number } | null
    replayedRecords: number
    changelogFrom: number
    changelogTo: number
    firstCommitAt: number | null
    phasesMs?: Record<string, number>
  } | null
}
