import { kafkaIdOf } from '@ridepulse/contracts'
import type { OpbConfig } from '../config.js'

/** Where a shard's snapshot copies go: bucket, key prefix, and how logs and /status name it. No SDK here. */
export function remoteLocation(cfg: OpbConfig & { REMOTE_SNAPSHOTS_BUCKET: string }): { bucket: string; base: string; where: string } {
  const base = `${cfg.REMOTE_SNAPSHOTS_PREFIX}${kafkaIdOf(cfg)}/opb-${cfg.SHARD}/`
  const endpoint = cfg.REMOTE_SNAPSHOTS_ENDPOINT
  return { bucket: cfg.REMOTE_SNAPSHOTS_BUCKET, base, where: `s3://${cfg.REMOTE_SNAPSHOTS_BUCKET}/${base}${endpoint ? ` at ${endpoint}` : ''}` }
}
