import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export type OperatorMetrics = ReturnType<typeof createMetrics>

export function createMetrics() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  return {
    registry,
    reconcileSeconds: new Histogram({ name: 'ridepulse_operator_reconcile_seconds', help: 'Duration of one reconcile pass', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] }),
    reconcileErrors: new Counter({ name: 'ridepulse_operator_reconcile_errors_total', help: 'Reconcile passes that failed and were retried', registers: [registry] }),
    stepFailures: new Counter({ name: 'ridepulse_operator_step_failures_total', help: 'Failed reconcile steps', labelNames: ['step'], registers: [registry] }),
    promotions: new Counter({ name: 'ridepulse_operator_standby_promotions_total', help: 'Standby pods seen to have taken their shard over, by what ended the owner', labelNames: ['reason'], registers: [registry] }),
    ownerGone: new Counter({ name: 'ridepulse_operator_owner_gone_notices_total', help: 'Deleted pods of a standby pair whose partner was told at once, by its answer (taken: it stood by that owner and takes over; refused: it did not; failed: no answer)', labelNames: ['outcome'], registers: [registry] }),
    recoveries: new Counter({ name: 'ridepulse_operator_shard_recoveries_total', help: 'OpB shard recoveries seen through to ready', labelNames: ['reason'], registers: [registry] }),
    timeToRecover: new Histogram({ name: 'ridepulse_operator_time_to_recover_seconds', help: 'Failure detected to shard ready again', buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60], registers: [registry] }),
    shardsReady: new Gauge({ name: 'ridepulse_operator_shards_ready', help: 'OpB shards ready per resource', labelNames: ['resource'], registers: [registry] }),
    shardsDesired: new Gauge({ name: 'ridepulse_operator_shards_desired', help: 'OpB shards per resource (spec.opb.shards)', labelNames: ['resource'], registers: [registry] }),
    shardsStalled: new Gauge({ name: 'ridepulse_operator_shards_stalled', help: 'OpB shards not ready past spec.recovery.deadlineSeconds, per resource', labelNames: ['resource'], registers: [registry] }),
    topicsNotReady: new Gauge({ name: 'ridepulse_operator_topics_not_ready', help: 'Topics of a resource that are missing, mismatched or another resource\'s', labelNames: ['resource'], registers: [registry] }),
    paused: new Gauge({ name: 'ridepulse_operator_reconciliation_paused', help: '1 while a resource\'s reconciliation is paused by annotation', labelNames: ['resource'], registers: [registry] }),
    leader: new Gauge({ name: 'ridepulse_operator_leader', help: '1 while this replica holds the lease', registers: [registry] }),
    queueDepth: new Gauge({ name: 'ridepulse_operator_queue_depth', help: 'Resources waiting for a reconcile pass', registers: [registry] }),
  }
}
