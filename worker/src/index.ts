/**
 * The worker as a library, for the test kit and the benchmarks: the process
 * with hooks (`runWorker`), and the shard state's own format, to build a
 * shard's history directly. The shipped worker is `dist/worker.mjs`, built
 * from main.ts alone.
 */
export { startEarlyRestore, type EarlyRestore } from './opb/early-restore.js'
export { runWorker } from './run.js'
export type { CommitPoint, WorkerHooks } from './hooks.js'
export { emptyAgg, windowKey, type WindowAgg } from './core/aggregate.js'
export { encodeMeta, encodeWindowValue, initialMeta, META_KEY, type ShardMeta } from './core/records.js'
export { SnapshotStore } from './store/snapshots.js'
export type { RemoteSnapshots } from './store/remote.js'
/** The snapshot store's client; the AWS SDK behind it is loaded on this call only. */
export const loadRemoteSnapshots = async (cfg: import('./config.js').OpbConfig & { REMOTE_SNAPSHOTS_BUCKET: string }) => (await import('./store/remote.js')).loadRemoteSnapshots(cfg)
export { newStoreMeta, StateStore } from './store/state-store.js'
export { pipelineTopics } from './topics.js'
