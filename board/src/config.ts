import { z } from 'zod'
import { kafkaConnectionEnv, kafkaConnectionRules } from '@ridepulse/contracts'
import { tlsFromFiles } from '@ridepulse/kafka'

const int = (min: number) => z.coerce.number().int().min(min)

export const configSchema = z.object({
  /** The brokers and how to reach them (TLS, SASL): the workers' variables. */
  ...kafkaConnectionEnv,
  TOPIC_OUTPUT: z.string().min(1).default('orders.output'),
  /** Partitions of the output topic (= OpB shards). */
  SHARDS: int(1).default(3),
  /**
   * Where each shard's worker answers /status: `0=http://host:port,1=…`.
   * Empty: the board shows counts only.
   */
  WORKER_STATUS_URLS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^\d+=https?:\/\/\S+$/, 'each entry must be <shard>=<http url>')))
    .transform((xs) => new Map(xs.map((x) => [Number(x.slice(0, x.indexOf('='))), x.slice(x.indexOf('=') + 1).replace(/\/$/, '')]))),
  /** Where shard health comes from: each worker's /status, or the StatefulOperator's status on Kubernetes. */
  STATUS_SOURCE: z.enum(['workers', 'kubernetes']).default('workers'),
  /** With STATUS_SOURCE=kubernetes: the pipeline's resource, `<namespace>/<name>`. */
  KUBE_RESOURCE: z.string().regex(/^[a-z0-9-]+\/[a-z0-9-]+$/, 'must be <namespace>/<name>').optional(),
  /** With STATUS_SOURCE=kubernetes: a kubeconfig path; empty uses the in-cluster service account. */
  KUBECONFIG: z.string().default(''),
  STATUS_POLL_MS: int(100).default(500),
  /** How many minutes (windows) back the board keeps and shows. */
  HISTORY_WINDOWS: int(1).default(15),
  /** How often changes are pushed to the pages. */
  PUSH_EVERY_MS: int(50).default(250),
  HTTP_PORT: int(0).default(8090),
  HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
}).superRefine(kafkaConnectionRules).refine((c) => c.STATUS_SOURCE !== 'kubernetes' || c.KUBE_RESOURCE, { path: ['KUBE_RESOURCE'], message: 'is required when STATUS_SOURCE=kubernetes' })
export type BoardConfig = z.infer<typeof configSchema>

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

export function loadConfig(env: Record<string, string | undefined>): BoardConfig {
  const r = configSchema.safeParse(env)
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`))
  const { issues } = tlsFromFiles(r.data)
  if (issues.length > 0) throw new ConfigError(issues)
  return r.data
}
