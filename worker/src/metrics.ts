import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { ShardLag } from '@ridepulse/contracts'

/** Where the lag gauges read their values when scraped (an OpB shard sets it). */
export interface LagView {
  read?: () => ShardLag
}

export function createMetrics(labels: Record<string, string>) {
  const lagView: LagView = {}
  const lagGauge = (name: string, help: string, pick: (l: ShardLag) => number | null) =>
    new Gauge({
      name,
      help,
      registers: [],
      collect() {
        const v = lagView.read ? pick(lagView.read()) : null
        if (v !== null) this.set(v)
      },
    })
  const lagGauges = [
    lagGauge('ridepulse_input_lag_seconds', 'Age of the newest input record processed while records wait; 0 when caught up', (l) => l.inputSeconds),
    lagGauge('ridepulse_watermark_lag_seconds', 'Wall-clock time minus the watermark (event time)', (l) => l.watermarkSeconds),
    lagGauge('ridepulse_seconds_since_last_commit', 'Time since the last committed transaction (none while idle)', (l) => l.sinceCommitSeconds),
  ]
  const registry = new Registry()
  registry.setDefaultLabels(labels)
  collectDefaultMetrics({ register: registry })
  const ms = [1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10000]
  return {
    registry,
    recordsIn: new Counter({ name: 'ridepulse_records_in_total', help: 'Input records consumed', registers: [registry] }),
    recordsOut: new Counter({ name: 'ridepulse_records_out_total', help: 'Records produced, by topic', labelNames: ['topic'], registers: [registry] }),
    lag: new Gauge({ name: 'ridepulse_input_lag_records', help: 'Records between the position and the end of the input', registers: [registry] }),
    commitLatency: new Histogram({ name: 'ridepulse_commit_duration_ms', help: 'Transaction commit duration', buckets: ms, registers: [registry] }),
    endToEnd: new Histogram({ name: 'ridepulse_end_to_end_latency_ms', help: 'Raw event on orders to its effect committed', buckets: ms, registers: [registry] }),
    transactions: new Counter({ name: 'ridepulse_transactions_total', help: 'Transactions, by outcome', labelNames: ['outcome'], registers: [registry] }),
    snapshotDuration: new Histogram({ name: 'ridepulse_snapshot_duration_ms', help: 'Snapshot duration', labelNames: ['kind'], buckets: ms, registers: [registry] }),
    snapshotBytes: new Gauge({ name: 'ridepulse_snapshot_size_bytes', help: 'Size of the last snapshot', labelNames: ['kind'], registers: [registry] }),
    remoteCopies: new Counter({ name: 'ridepulse_remote_snapshot_copies_total', help: 'Full snapshots copied to the object store, by outcome (copied, failed)', labelNames: ['outcome'], registers: [registry] }),
    remoteCopyDuration: new Histogram({ name: 'ridepulse_remote_snapshot_copy_duration_ms', help: 'Time to copy a full snapshot to the object store', buckets: [100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000, 300_000], registers: [registry] }),
    remoteCopyLast: new Gauge({ name: 'ridepulse_remote_snapshot_last_copy_timestamp_seconds', help: 'When the newest copy in the object store was completed, Unix seconds', registers: [registry] }),
    standbyLag: new Gauge({ name: 'ridepulse_standby_lag_records', help: 'A standby: changelog records committed and not yet in its store', registers: [registry] }),
    standbyLagSeconds: new Gauge({ name: 'ridepulse_standby_lag_seconds', help: 'A standby: age of the newest changelog record applied while records wait (0 when caught up)', registers: [registry] }),
    shardActive: new Gauge({ name: 'ridepulse_shard_active', help: '1 while this process owns its shard, 0 while it stands by', registers: [registry] }),
    promotions: new Counter({ name: 'ridepulse_standby_promotions_total', help: 'Takeovers by this process as a standby, by what ended the active (connection-closed, silent, unreachable, not-active)', labelNames: ['reason'], registers: [registry] }),
    replayedRecords: new Counter({ name: 'ridepulse_replayed_records_total', help: 'Changelog records replayed in recoveries', registers: [registry] }),
    replayedBytes: new Counter({ name: 'ridepulse_replayed_bytes_total', help: 'Changelog bytes replayed in recoveries', registers: [registry] }),
    timeToRecover: new Gauge({ name: 'ridepulse_time_to_recover_ms', help: 'Last recovery: process start to ready', registers: [registry] }),
    recoveryPhase: new Gauge({ name: 'ridepulse_recovery_phase_ms', help: 'Last recovery, by phase', labelNames: ['phase'], registers: [registry] }),
    stateKeys: new Gauge({ name: 'ridepulse_state_keys', help: 'Live keys in the state', registers: [registry] }),
    late: new Counter({ name: 'ridepulse_late_events_total', help: 'Events for final windows, sent to the late topic', registers: [registry] }),
    volumeWriteFailures: new Counter({ name: 'ridepulse_volume_write_failures_total', help: 'Writes to the data volume that failed (a full disk, say), by operation: snapshot, state, recovery', labelNames: ['operation'], registers: [registry] }),
    volumeWritable: new Gauge({ name: 'ridepulse_volume_writable', help: '1 while the last write to the data volume succeeded, 0 after a failed one', registers: [registry] }),
    dlq: new Counter({ name: 'ridepulse_dead_letters_total', help: 'Records sent to the dead-letter topic, by why (malformed, future-event-time)', labelNames: ['code'], registers: [registry] }),
    /** Set by an OpB shard: its gauges of lag in time then join the registry. */
    registerLag(read: () => ShardLag): void {
      lagView.read = read
      for (const g of lagGauges) registry.registerMetric(g)
    },
  }
}
export type Metrics = ReturnType<typeof createMetrics>
