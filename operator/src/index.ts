/**
 * The operator as a library, for the test kit, the benchmarks and the
 * end-to-end run: the API server client, the reconciler to run in-process,
 * and the names and annotations it puts on what it creates. The operator's
 * process is main.ts.
 */
export { ApiError, isConflict, isNotFound, objectPath, Rest } from './kube/rest.js'
export { Reconciler } from './reconcile/reconciler.js'
export { createMetrics } from './metrics.js'
export { ANNOTATION_NUDGED_AT, FIELD_MANAGER, names, WORKER_PORT } from './core/builders.js'
