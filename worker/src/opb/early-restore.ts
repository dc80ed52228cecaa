import { join } from 'node:path'
import { opbSchema } from '@ridepulse/contracts'
import { SnapshotStore, type Staged } from '../store/snapshots.js'

/** A restarting shard's local snapshot work, begun before the worker has loaded (see `startEarlyRestore`). */
export interface EarlyRestore {
  dataDir: string
  shard: number
  snapshots: SnapshotStore
  staged: Staged
}

/**
 * The first thing a restarting OpB shard does with its volume is checksum
 * the newest snapshot and copy its base into the live directory: disk work
 * that needs no broker. Begun from a module evaluated before the Kafka client
 * and the rest of the worker, it runs while they load instead of after.
 * Recovery takes it up only if the validated configuration names the same
 * directory and shard; it never trusts the live directory anyway.
 */
export function startEarlyRestore(env: Record<string, string | undefined>): EarlyRestore | undefined {
  const parsed = opbSchema.safeParse(env)
  if (!parsed.success || parsed.data.ROLE !== 'opb' || parsed.data.SNAPSHOT_MODE === 'checkpoint') return undefined
  const { DATA_DIR: dataDir, SHARD: shard } = parsed.data
  const snapshots = new SnapshotStore(dataDir, shard)
  return { dataDir, shard, snapshots, staged: snapshots.stage(join(dataDir, 'live')) }
}
