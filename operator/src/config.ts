import { hostname } from 'node:os'
import { z } from 'zod'

const int = (min: number) => z.coerce.number().int().min(min)

export const configSchema = z.object({
  /**
   * The namespaces whose pipelines this operator runs, comma-separated; empty
   * runs them in every namespace (which needs cluster-wide permissions).
   */
  WATCH_NAMESPACES: z
    .string()
    .default('')
    .transform((s) => [...new Set(s.split(',').map((x) => x.trim()).filter(Boolean))])
    .pipe(z.array(z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'each must be a namespace name'))),
  /** Where the leader-election Lease lives (the operator's own namespace). */
  LEASE_NAMESPACE: z.string().min(1).default('default'),
  LEASE_NAME: z.string().min(1).default('ridepulse-operator'),
  LEADER_ELECTION: z.stringbool().default(true),
  LEASE_DURATION_MS: int(1000).default(15_000),
  LEASE_RENEW_DEADLINE_MS: int(500).default(10_000),
  LEASE_RETRY_PERIOD_MS: int(100).default(2_000),
  /** This replica's name in the Lease; the pod's name on Kubernetes. */
  POD_NAME: z.string().min(1).default(hostname()),
  HTTP_PORT: int(0).default(8081),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  /** Resources reconciled at once. */
  CONCURRENCY: int(1).default(2),
  TOPIC_CHECK_EVERY_MS: int(1000).default(60_000),
  /**
   * How long the API server keeps one watch open; each informer then watches
   * again from the resourceVersion it holds (no relist): one watch request
   * per informer per period.
   */
  WATCH_SECONDS: int(1).max(3600).default(300),
  /**
   * A workaround, off by default: when the kubelet of a recovering shard's
   * new pod reports that the Node authorizer refused it the pod's claim (its
   * graph had not yet seen the pod bound to the node), change the pod's
   * annotations so that the kubelet syncs it again at once instead of after
   * its 10-15 s back-off. At most three times per pod. Needs `patch` on pods
   * and `list` on events.
   */
  KUBELET_NUDGE: z.stringbool().default(false),
  /** How often each running shard's and OpA instance's lag is read from its /status into the resource's status; 0: never. */
  LAG_POLL_MS: z.coerce.number().int().refine((n) => n === 0 || n >= 1000, 'must be 0 (off) or at least 1000').default(10_000),
  /** Path of a kubeconfig; empty uses the in-cluster service account or $KUBECONFIG. */
  KUBECONFIG: z.string().default(''),
}).refine((c) => c.LEASE_RENEW_DEADLINE_MS < c.LEASE_DURATION_MS, { path: ['LEASE_RENEW_DEADLINE_MS'], message: 'must be below LEASE_DURATION_MS' })
export type OperatorConfig = z.infer<typeof configSchema>

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

export function loadConfig(env: Record<string, string | undefined>): OperatorConfig {
  const r = configSchema.safeParse(env)
  if (r.success) return r.data
  throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`))
}
