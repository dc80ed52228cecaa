import { z } from 'zod'
import { DEFAULT_DLQ_MAX_VALUE_BYTES } from './dead-letter.js'
import { DEFAULT_MAX_FUTURE_SKEW_MS } from './event.js'
import { kafkaConnectionEnv, kafkaConnectionRules } from './kafka-env.js'
import { DEFAULT_TOPIC_NAMES } from './topics.js'

/**
 * The worker's environment: the one schema the worker parses at start and the
 * operator renders into its pods (`renderWorkerEnv`), so a name or a rule
 * cannot differ between the two.
 */

/**
 * The workers' transaction timeout: Kafka's default, kept. A transaction left
 * open longer is aborted by the coordinator with a new epoch, which fences
 * its process for good; a shorter timeout would fence a shard whose broker
 * restarts (more than 15 s here) while its transaction is open.
 */
export const TRANSACTION_TIMEOUT_MS = 60_000

/**
 * In checkpoint mode one transaction spans a snapshot interval; it must end
 * well within the transaction timeout.
 */
export const MAX_CHECKPOINT_INTERVAL_MS = 10_000

/**
 * A whole number written in digits. `z.coerce.number()` would read an empty
 * variable (`SHARD=`) as 0 and a blank one as 0 too: refused here instead.
 */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .unknown()
    .transform((v, ctx) => {
      if (typeof v === 'number') return v
      if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Number(v)
      ctx.addIssue({ code: 'custom', message: `must be a whole number (got ${JSON.stringify(v)})` })
      return z.NEVER
    })
    .pipe(z.number().int().min(min).max(max))
const common = {
  ...kafkaConnectionEnv,
  PIPELINE: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'lowercase letters, digits and dashes').default('rides'),
  /** The resource's namespace, under the operator: it joins the name in the transactional ids and the group (see `kafkaIdOf`). */
  PIPELINE_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a namespace name (a DNS label)').optional(),
  TOPIC_ORDERS: z.string().min(1).default(DEFAULT_TOPIC_NAMES.orders),
  TOPIC_ENRICHED: z.string().min(1).default(DEFAULT_TOPIC_NAMES.enriched),
  TOPIC_DLQ: z.string().min(1).default(DEFAULT_TOPIC_NAMES.dlq),
  TOPIC_OUTPUT: z.string().min(1).default(DEFAULT_TOPIC_NAMES.output),
  TOPIC_LATE: z.string().min(1).default(DEFAULT_TOPIC_NAMES.late),
  TOPIC_CHANGELOG: z.string().min(1).default(DEFAULT_TOPIC_NAMES.changelog),
  TOPIC_SNAPSHOTS: z.string().min(1).default(DEFAULT_TOPIC_NAMES.snapshots),
  ORDERS_PARTITIONS: int(1).default(3),
  SHARDS: int(1).default(3),
  /** Replication factor of the topics a worker creates when they are missing; -1 takes the broker's default. */
  TOPIC_REPLICATION_FACTOR: z.coerce.number().int().min(-1).max(32).refine((n) => n !== 0, 'must be -1 or at least 1').default(-1),
  HTTP_PORT: int(0).default(8080),
  /** Address the HTTP endpoints listen on. */
  HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  COMMIT_INTERVAL_MS: int(5).default(100),
  /**
   * A safety cap, not the rhythm: transactions follow COMMIT_INTERVAL_MS, and
   * this bounds one (memory, transaction size) when a backlog is drained.
   */
  COMMIT_MAX_RECORDS: int(1).default(50_000),
  /**
   * How far an event's time may run ahead of its record's timestamp on the
   * input (when it reached Kafka); an event further ahead is a dead letter.
   */
  MAX_FUTURE_SKEW_MS: int(0).default(DEFAULT_MAX_FUTURE_SKEW_MS),
  /** The longest original kept in a dead letter; a longer one is cut, its size and SHA-256 kept in headers. */
  DLQ_MAX_VALUE_BYTES: int(0, 900_000).default(DEFAULT_DLQ_MAX_VALUE_BYTES),
  /** After SIGTERM, the longest a worker waits for its last transaction and its connections before it exits anyway. */
  SHUTDOWN_TIMEOUT_MS: int(100, 25_000).default(10_000),
}

export const opaSchema = z.object({
  ...common,
  ROLE: z.literal('opa'),
  OPA_INDEX: int(0),
  OPA_INSTANCES: int(1).default(1),
})
const opaRules = (c: z.infer<typeof opaSchema>, ctx: z.RefinementCtx) => {
  if (c.OPA_INDEX >= c.OPA_INSTANCES) ctx.addIssue({ code: 'custom', path: ['OPA_INDEX'], message: `must be below OPA_INSTANCES (${c.OPA_INSTANCES})` })
  else if (c.OPA_INDEX >= c.ORDERS_PARTITIONS) {
    ctx.addIssue({ code: 'custom', path: ['OPA_INDEX'], message: `instance ${c.OPA_INDEX} would own no partition of ${c.TOPIC_ORDERS} (ORDERS_PARTITIONS=${c.ORDERS_PARTITIONS}): run at most ORDERS_PARTITIONS instances` })
  }
}

/**
 * Copies of full snapshots in an S3-compatible object store, so a shard whose
 * volume is lost restores from the newest copy plus the changelog tail. Off
 * unless REMOTE_SNAPSHOTS_BUCKET is set. Credentials come from the AWS SDK's
 * usual sources: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the operator
 * sets them from a Secret), a web identity token, or the instance's role.
 */
const remoteSnapshotEnv = {
  REMOTE_SNAPSHOTS_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 lowercase letters, digits, dots and dashes)').optional(),
  /** Objects go under `<prefix><namespace>.<pipeline>/opb-<shard>/<snapshotId>/`. */
  REMOTE_SNAPSHOTS_PREFIX: z.string().regex(/^([^/].*\/)?$/, 'must be empty or end with "/" (and not start with one)').default(''),
  /** The store's URL (MinIO, Ceph, another cloud's S3 API); absent: AWS S3 in REMOTE_SNAPSHOTS_REGION. */
  REMOTE_SNAPSHOTS_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  REMOTE_SNAPSHOTS_REGION: z.string().min(1).default('us-east-1'),
  /** Bucket in the path (`<endpoint>/<bucket>/…`) rather than in the host name; the default with an endpoint. */
  REMOTE_SNAPSHOTS_PATH_STYLE: z.enum(['true', 'false']).optional(),
  /** A PEM bundle of the CAs that sign the endpoint's certificate, for a store with a private CA. */
  REMOTE_SNAPSHOTS_CA_FILE: z.string().min(1).optional(),
  /** How many copies the store keeps per shard (the newest). */
  REMOTE_SNAPSHOTS_KEEP: int(1).default(3),
}

/**
 * Hot standby (docs/design.md, "Standby shards"): with STANDBY_ENABLED each
 * process of a shard starts as a candidate; it follows a live active as its
 * standby, or takes the shard over when there is none.
 */
const standbyEnv = {
  STANDBY_ENABLED: z.enum(['true', 'false']).default('false'),
  /** The address the other process of the shard reaches this one's HTTP port at (the pod's IP under the operator). */
  ADVERTISED_HOST: z.string().regex(/^[A-Za-z0-9.:-]+$/, 'must be a host name or an IP address').default('127.0.0.1'),
  /** How often the active tells its standby it lives. */
  STANDBY_HEARTBEAT_MS: int(10, 10_000).default(100),
  /** How long the active may be silent (a node gone quiet) before its standby takes over. */
  STANDBY_LEASE_MS: int(100, 600_000).default(1000),
  /** A standby further behind the changelog than this is not ready to take over (its /readyz says 503). */
  STANDBY_MAX_LAG_RECORDS: int(0).default(50_000),
  /** 0 or 1: with nothing announced, slot 1 waits a lease before it claims the shard, so two new processes do not fence each other. */
  STANDBY_SLOT: int(0, 1).default(0),
}

export const opbSchema = z.object({
  ...common,
  ROLE: z.literal('opb'),
  SHARD: int(0),
  DATA_DIR: z.string().min(1),
  /**
   * incremental: partial snapshots chained to a full base, plus the changelog;
   * full: full snapshots plus the changelog; checkpoint: no changelog, one
   * transaction per snapshot interval (the baseline to measure against).
   */
  SNAPSHOT_MODE: z.enum(['incremental', 'full', 'checkpoint']).default('incremental'),
  SNAPSHOT_INTERVAL_MS: int(100).default(10_000),
  /** Every how many partial snapshots a full one is taken. */
  SNAPSHOT_FULL_EVERY: int(1).default(10),
  SNAPSHOT_KEEP: int(1).default(3),
  ...remoteSnapshotEnv,
  ...standbyEnv,
  WINDOW_SIZE_MS: int(1000).default(60_000),
  ALLOWED_LATENESS_MS: int(0).default(10_000),
  OUT_OF_ORDERNESS_MS: int(0).default(5_000),
  IDLE_TIMEOUT_MS: int(100).default(10_000),
  RETENTION_MS: int(0).default(600_000),
})

export const configSchema = z.discriminatedUnion('ROLE', [
  opaSchema.superRefine(kafkaConnectionRules).superRefine(opaRules),
  opbSchema.superRefine(kafkaConnectionRules).superRefine((c, ctx) => {
    if (c.SHARD >= c.SHARDS) ctx.addIssue({ code: 'custom', path: ['SHARD'], message: `must be below SHARDS (${c.SHARDS}): shard s owns partition s of the input` })
  }).refine((c) => c.SNAPSHOT_MODE !== 'checkpoint' || c.STANDBY_ENABLED === 'false', {
    path: ['STANDBY_ENABLED'],
    message: 'a standby follows the changelog: checkpoint mode has none',
  }).refine((c) => c.STANDBY_LEASE_MS > c.STANDBY_HEARTBEAT_MS * 2, {
    path: ['STANDBY_LEASE_MS'],
    message: 'must exceed two heartbeats (STANDBY_HEARTBEAT_MS), or a late beat would look like a death',
  }).refine((c) => c.SNAPSHOT_MODE !== 'checkpoint' || c.REMOTE_SNAPSHOTS_BUCKET === undefined, {
    path: ['REMOTE_SNAPSHOTS_BUCKET'],
    message: 'remote snapshot copies need the changelog: checkpoint mode restores only the committed checkpoint on the volume',
  }).refine((c) => c.SNAPSHOT_MODE !== 'checkpoint' || c.SNAPSHOT_INTERVAL_MS <= MAX_CHECKPOINT_INTERVAL_MS, {
    path: ['SNAPSHOT_INTERVAL_MS'],
    message: `in checkpoint mode a transaction spans the snapshot interval, which must stay within ${MAX_CHECKPOINT_INTERVAL_MS} ms (the transaction timeout is ${TRANSACTION_TIMEOUT_MS} ms)`,
  }),
])
export type OpaConfig = z.infer<typeof opaSchema>
export type OpbConfig = z.infer<typeof opbSchema>
export type WorkerConfig = z.infer<typeof configSchema>

/** Every problem of an environment, each naming its variable. */
export type WorkerEnvResult = { ok: true; config: WorkerConfig } | { ok: false; issues: string[] }

export function parseWorkerEnv(env: Record<string, string | undefined>): WorkerEnvResult {
  const r = configSchema.safeParse(env)
  if (r.success) return { ok: true, config: r.data }
  return { ok: false, issues: r.error.issues.map((i) => `${i.path.join('.') || 'ROLE'}: ${i.message}`) }
}

/** Every variable the worker reads. */
export type WorkerEnvName = keyof typeof opaSchema.shape | keyof typeof opbSchema.shape
export type WorkerEnvValue = string | number | boolean | readonly string[]

/**
 * The environment of a worker from typed values: a name the worker does not
 * read does not compile. Lists are written comma-separated, as parsed.
 */
export function renderWorkerEnv(values: Partial<Record<WorkerEnvName, WorkerEnvValue | undefined>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, v] of Object.entries(values)) {
    if (v === undefined) continue
    out[name] = Array.isArray(v) ? v.join(',') : String(v)
  }
  return out
}

export interface EventTimeRule {
  windowSizeMs: number
  allowedLatenessMs: number
  outOfOrdernessMs: number
  /** OpA's bound on an event's time ahead of its ingest time (MAX_FUTURE_SKEW_MS). */
  maxFutureSkewMs?: number
}

const ruleSchema = opbSchema.pick({ WINDOW_SIZE_MS: true, ALLOWED_LATENESS_MS: true, OUT_OF_ORDERNESS_MS: true, MAX_FUTURE_SKEW_MS: true })

/** The event-time rule a pipeline started with `env` follows, the defaults included: what the verifier judges lateness by. */
export function eventTimeRule(env: Record<string, string | undefined>): EventTimeRule {
  const c = ruleSchema.parse(env)
  return { windowSizeMs: c.WINDOW_SIZE_MS, allowedLatenessMs: c.ALLOWED_LATENESS_MS, outOfOrdernessMs: c.OUT_OF_ORDERNESS_MS, maxFutureSkewMs: c.MAX_FUTURE_SKEW_MS }
}

/**
 * The pipeline's name on Kafka, in its transactional ids and its consumer
 * group: `<namespace>.<name>` under the operator, so the same resource name
 * in two namespaces never fences the other's workers; the name alone for a
 * pipeline run by hand.
 */
export const kafkaIdOf = (cfg: { PIPELINE: string; PIPELINE_NAMESPACE?: string | undefined }): string =>
  cfg.PIPELINE_NAMESPACE ? `${cfg.PIPELINE_NAMESPACE}.${cfg.PIPELINE}` : cfg.PIPELINE

/** The transactional id of one unit of ownership: an OpA instance or an OpB shard. */
export const transactionalIdOf = (cfg: { PIPELINE: string; PIPELINE_NAMESPACE?: string | undefined }, unit: { role: 'opa'; index: number } | { role: 'opb'; shard: number }): string =>
  unit.role === 'opa' ? `${kafkaIdOf(cfg)}-opa-${unit.index}` : `${kafkaIdOf(cfg)}-opb-${unit.shard}`
