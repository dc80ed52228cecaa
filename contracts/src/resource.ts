import { z } from 'zod'
import { DEFAULT_DLQ_MAX_VALUE_BYTES } from './dead-letter.js'
import { DEFAULT_MAX_FUTURE_SKEW_MS } from './event.js'
import { podTemplateSchema } from './pod-template.js'
import { DEFAULT_TOPIC_NAMES, derivedTopicNames, TOPIC_ROLES, type TopicNames } from './topics.js'
import { MAX_CHECKPOINT_INTERVAL_MS } from './worker-env.js'

/**
 * The StatefulOperator resource: the zod side of `crds/statefuloperators.yaml`.
 * Both must accept and reject the same documents and fill the same defaults;
 * `spec.test.ts` and the API server test feed the same examples to both.
 */
export const GROUP = 'ridepulse.io'
export const VERSION = 'v1alpha1'
export const API_VERSION = `${GROUP}/${VERSION}`
export const KIND = 'StatefulOperator'
export const PLURAL = 'statefuloperators'
export const DEFAULT_IMAGE = 'ridepulse/worker:0.1.0'

const hostPort = z.string().regex(/^[A-Za-z0-9.-]+:[0-9]{1,5}$/, 'must be host:port')
const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name (letters, digits, ".", "_", "-")')
const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a DNS label')
const secretKey = z.string().regex(/^[-._a-zA-Z0-9]{1,253}$/, 'must be a key of a Secret (letters, digits, "-", "_", ".")')
const image = z.string().regex(/^\S+$/, 'must be an image reference without spaces').min(1)
const int = (min: number, max: number) => z.number().int().min(min).max(max)
const quantity = z.union([
  z.number().int().min(0),
  z.string().regex(/^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/, 'must be a quantity such as 500m, 2 or 1Gi'),
])
const resources = z
  .object({
    requests: z.record(z.string(), quantity).optional(),
    limits: z.record(z.string(), quantity).optional(),
  })
  .strict()

export const specSchema = z
  .object({
    kafka: z
      .object({
        bootstrapServers: z.array(hostPort).min(1),
        /** SASL credentials from a Secret in the resource's namespace. */
        credentials: z
          .object({
            secretName: dnsLabel,
            mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']).default('SCRAM-SHA-512'),
            usernameKey: z.string().min(1).default('username'),
            passwordKey: z.string().min(1).default('password'),
          })
          .strict()
          .optional(),
        /**
         * TLS to the brokers (present: on). Their certificates are checked
         * against the CA in `caSecretName` (the runtime's trusted authorities
         * without it) and against the host names in bootstrapServers and in
         * the brokers' metadata. `clientSecretName` holds a client
         * certificate and its key, for brokers that require mutual TLS. With
         * `credentials` as well, SASL runs over TLS (SASL_SSL).
         */
        tls: z
          .object({
            caSecretName: dnsLabel.optional(),
            caKey: secretKey.default('ca.crt'),
            clientSecretName: dnsLabel.optional(),
            certKey: secretKey.default('tls.crt'),
            keyKey: secretKey.default('tls.key'),
          })
          .strict()
          .optional(),
        /** Replication factor of topics the operator creates; -1 takes the broker's default. */
        replicationFactor: int(-1, 32).refine((n) => n !== 0, 'must be -1 or at least 1').default(-1),
      })
      .strict(),
    topics: z
      .object({
        orders: topicName.default(DEFAULT_TOPIC_NAMES.orders),
        ordersPartitions: int(1, 10_000).default(3),
        // The written topics default to names derived from the resource's
        // namespace and name (`resolveTopicNames`), not to one global name.
        enriched: topicName.optional(),
        output: topicName.optional(),
        late: topicName.optional(),
        dlq: topicName.optional(),
        changelog: topicName.optional(),
        snapshots: topicName.optional(),
      })
      .strict()
      .prefault({}),
    opa: z
      .object({
        replicas: int(1, 1000).default(1),
        image: image.default(DEFAULT_IMAGE),
        resources: resources.optional(),
        template: podTemplateSchema.optional(),
      })
      .strict()
      .prefault({}),
    opb: z
      .object({
        shards: int(1, 256).default(3),
        image: image.default(DEFAULT_IMAGE),
        resources: resources.optional(),
        template: podTemplateSchema.optional(),
        /**
         * A hot standby per shard: a second pod, on a claim of its own, follows
         * the shard's changelog and takes over within a fraction of a second
         * when the owner's process dies, within `leaseMs` when its node goes quiet.
         */
        standby: z
          .object({
            enabled: z.boolean().default(false),
            heartbeatMs: int(10, 10_000).default(100),
            leaseMs: int(100, 600_000).default(1000),
            maxLagRecords: int(0, 100_000_000).default(50_000),
          })
          .strict()
          .prefault({})
          .refine((s) => s.leaseMs > 2 * s.heartbeatMs, { path: ['leaseMs'], message: 'must exceed two heartbeats (heartbeatMs)' }),
        storage: z
          .object({
            size: quantity.default('1Gi'),
            storageClassName: z.string().min(1).optional(),
            /** Delete the shards' claims with the resource; by default they are kept. */
            deleteClaim: z.boolean().default(false),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    snapshots: z
      .object({
        mode: z.enum(['incremental', 'full', 'checkpoint']).default('incremental'),
        intervalMs: int(100, 3_600_000).default(10_000),
        fullEvery: int(1, 1000).default(10),
        keep: int(1, 100).default(3),
        /**
         * Copies of every full snapshot in an S3-compatible object store, so a
         * shard whose volume is lost restores from the newest copy plus the
         * changelog's tail instead of the whole changelog.
         */
        remote: z
          .object({
            bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 lowercase letters, digits, dots and dashes)'),
            prefix: z.string().regex(/^([^/].*\/)?$/, 'must be empty or end with "/" (and not start with one)').default(''),
            /** The store's URL; absent: AWS S3 in `region`. */
            endpoint: z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'must be an http:// or https:// URL').optional(),
            region: z.string().min(1).default('us-east-1'),
            /** Bucket in the path rather than the host name; the default with an endpoint. */
            pathStyle: z.boolean().optional(),
            keep: int(1, 100).default(3),
            /** Access key and secret from a Secret; absent: the pod's own identity (a web identity token, an instance role). */
            credentials: z
              .object({
                secretName: dnsLabel,
                accessKeyIdKey: secretKey.default('AWS_ACCESS_KEY_ID'),
                secretAccessKeyKey: secretKey.default('AWS_SECRET_ACCESS_KEY'),
              })
              .strict()
              .optional(),
            /** A CA bundle for an endpoint whose certificate a private CA signs. */
            caSecretName: dnsLabel.optional(),
            caKey: secretKey.default('ca.crt'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({})
      .refine((s) => s.mode !== 'checkpoint' || s.intervalMs <= MAX_CHECKPOINT_INTERVAL_MS, {
        path: ['intervalMs'],
        message: `must be at most ${MAX_CHECKPOINT_INTERVAL_MS} in checkpoint mode (one transaction spans the interval)`,
      })
      .refine((s) => s.mode !== 'checkpoint' || s.remote === undefined, {
        path: ['remote'],
        message: 'needs the changelog: checkpoint mode keeps its one exact checkpoint on the volume',
      }),
    windows: z
      .object({
        sizeMs: int(1000, 86_400_000).default(60_000),
        allowedLatenessMs: int(0, 86_400_000).default(10_000),
        outOfOrdernessMs: int(0, 86_400_000).default(5_000),
        idleTimeoutMs: int(100, 86_400_000).default(10_000),
        retentionMs: int(0, 604_800_000).default(600_000),
        /** How far an event's time may be after its ingest time; further ahead, OpA makes it a dead letter. */
        maxFutureSkewMs: int(0, 86_400_000).default(DEFAULT_MAX_FUTURE_SKEW_MS),
      })
      .strict()
      .prefault({}),
    deadLetters: z
      .object({
        /** The longest original a dead letter keeps; longer ones are cut, their size and SHA-256 kept in headers. */
        maxValueBytes: int(0, 900_000).default(DEFAULT_DLQ_MAX_VALUE_BYTES),
      })
      .strict()
      .prefault({}),
    commitIntervalMs: int(5, 60_000).default(100),
    recovery: z
      .object({
        /** local: recreate only the failed shard; global: restart the whole pipeline (the baseline). */
        strategy: z.enum(['local', 'global']).default('local'),
        /** How long a shard's pod may sit on a NotReady node before it is recreated elsewhere. */
        nodeLostTimeoutSeconds: int(5, 3600).default(60),
        /** How long a shard may stay not ready before it is reported stalled (Degraded, a Warning event). */
        deadlineSeconds: int(10, 86_400).default(300),
        /**
         * How long a shard's claim may be lost (its volume gone, or bound to
         * a node that is gone) before the operator replaces it with a new,
         * empty one; 0: never, a person decides.
         */
        lostClaimTimeoutSeconds: int(0, 86_400).default(300),
      })
      .strict()
      .prefault({}),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  })
  .strict()
  .refine((s) => !s.opb.standby.enabled || (s.snapshots.mode !== 'checkpoint' && s.recovery.strategy === 'local'), {
    path: ['opb', 'standby', 'enabled'],
    message: 'a standby follows the changelog and takes over one shard: it needs a snapshot mode with a changelog and the local recovery strategy',
  })
  .refine((s) => s.opa.replicas <= s.topics.ordersPartitions, {
    path: ['opa', 'replicas'],
    message: 'must not exceed topics.ordersPartitions (each OpA instance owns at least one orders partition)',
  })

/** The spec as the schema parses it: the written topics only where the resource names them. */
export type ParsedSpec = z.infer<typeof specSchema>
export type PipelineSpecInput = z.input<typeof specSchema>
/** The spec with every topic named: what the operator renders and the workers get. */
export type PipelineSpec = Omit<ParsedSpec, 'topics'> & { topics: TopicNames & { ordersPartitions: number } }

/**
 * Each topic's name: the one the spec gives; else the one the resource's
 * status shows in use (`inUse`: the global default a resource created before
 * derived names runs on, so that it keeps its state); else the name derived
 * from namespace and name.
 */
export function resolveTopicNames(meta: { namespace: string; name: string }, topics: ParsedSpec['topics'], inUse: Partial<TopicNames> = {}): TopicNames {
  const out = derivedTopicNames(meta.namespace, meta.name)
  for (const role of TOPIC_ROLES) out[role] = topics[role] ?? inUse[role] ?? out[role]
  return out
}

/** The resource's name becomes the pipeline's name: in pod names, transactional ids and labels. */
export const resourceName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/, 'must be at most 40 lowercase letters, digits and dashes')

export interface SpecIssue {
  /** Dotted path from the resource root, e.g. `spec.opb.shards`. */
  path: string
  message: string
}

export type SpecResult = { ok: true; spec: PipelineSpec } | { ok: false; issues: SpecIssue[] }

/**
 * Validates a resource's name and spec and fills the defaults, as the API
 * server does, then names every topic (`resolveTopicNames`).
 */
export function parseResource(meta: { namespace: string; name: string }, spec: unknown, inUse: Partial<TopicNames> = {}): SpecResult {
  const { name } = meta
  const issues: SpecIssue[] = []
  const n = resourceName.safeParse(name)
  if (!n.success) issues.push({ path: 'metadata.name', message: n.error.issues[0]?.message ?? 'invalid' })
  const r = specSchema.safeParse(spec)
  if (!r.success) {
    for (const i of r.error.issues) {
      const at = ['spec', ...i.path.map(String)]
      // An unknown field is named by its own path, as the API server names it.
      if (i.code === 'unrecognized_keys') for (const k of i.keys) issues.push({ path: [...at, k].join('.'), message: 'unknown field' })
      else issues.push({ path: at.join('.'), message: i.message })
    }
  }
  if (!r.success || issues.length > 0) return { ok: false, issues }
  return { ok: true, spec: { ...r.data, topics: { ...resolveTopicNames(meta, r.data.topics, inUse), ordersPartitions: r.data.topics.ordersPartitions } } }
}
