import { z } from 'zod'
import { opaSchema, opbSchema } from './worker-env.js'

/**
 * What a platform team sets on the pods of a component (OpA, OpB), the way
 * Strimzi's `template.pod` and `template.container` do: scheduling, pull
 * secrets, labels, extra environment. The CRD's `podTemplate` mirrors this
 * schema; the API server then validates the pods the operator builds from
 * it once more.
 */

const int = (min: number, max: number) => z.number().int().min(min).max(max)
// A qualified name, as labels and annotations have them: an optional DNS subdomain prefix and a name.
const qualifiedName = z
  .string()
  .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'must be a qualified name (an optional DNS prefix and "/", then at most 63 letters, digits, "-", "_", ".")')
const labelValue = z.string().regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/, 'must be a label value (at most 63 letters, digits, "-", "_", ".")')
const dnsSubdomain = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS subdomain (lowercase letters, digits, "-", ".")').max(253)
const envName = z.string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, 'must be an environment variable name')

/** Labels and annotations the operator sets itself: a template may not set them. */
export const RESERVED_LABELS = ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component', 'app.kubernetes.io/managed-by'] as const
export const RESERVED_PREFIX = 'ridepulse.io/'

/** Variables of the worker that no field of the resource sets: a template may tune them. */
export const TUNABLE_WORKER_ENV = ['COMMIT_MAX_RECORDS', 'SHUTDOWN_TIMEOUT_MS'] as const
/** Every other variable the worker reads is the operator's to set: a template may not. */
export const RESERVED_WORKER_ENV: readonly string[] = [...new Set([...Object.keys(opaSchema.shape), ...Object.keys(opbSchema.shape)])]
  .filter((n) => !(TUNABLE_WORKER_ENV as readonly string[]).includes(n))
  .sort()

const reservedKey = (k: string) => (RESERVED_LABELS as readonly string[]).includes(k) || k.startsWith(RESERVED_PREFIX)
// Named at the map, as the API server's rule names it.
const ownKeys = (m: Record<string, string>, ctx: z.RefinementCtx) => {
  const taken = Object.keys(m).filter(reservedKey)
  if (taken.length > 0) ctx.addIssue({ code: 'custom', message: `may not set ${taken.join(', ')}: the operator sets the app.kubernetes.io/ keys of its selectors and every ridepulse.io/ key` })
}

const labelSelector = z
  .object({
    matchLabels: z.record(z.string(), z.string()).optional(),
    matchExpressions: z.array(z.object({ key: z.string().min(1), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: z.array(z.string()).optional() }).strict()).optional(),
  })
  .strict()
const nodeSelectorRequirement = z.object({ key: z.string().min(1), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']), values: z.array(z.string()).optional() }).strict()
const nodeSelectorTerm = z.object({ matchExpressions: z.array(nodeSelectorRequirement).optional(), matchFields: z.array(nodeSelectorRequirement).optional() }).strict()
const podAffinityTerm = z
  .object({
    labelSelector: labelSelector.optional(),
    namespaceSelector: labelSelector.optional(),
    namespaces: z.array(z.string()).optional(),
    topologyKey: z.string().min(1),
    matchLabelKeys: z.array(z.string()).optional(),
    mismatchLabelKeys: z.array(z.string()).optional(),
  })
  .strict()
const podAffinity = z
  .object({
    requiredDuringSchedulingIgnoredDuringExecution: z.array(podAffinityTerm).optional(),
    preferredDuringSchedulingIgnoredDuringExecution: z.array(z.object({ weight: int(1, 100), podAffinityTerm }).strict()).optional(),
  })
  .strict()
export const affinitySchema = z
  .object({
    nodeAffinity: z
      .object({
        requiredDuringSchedulingIgnoredDuringExecution: z.object({ nodeSelectorTerms: z.array(nodeSelectorTerm).min(1) }).strict().optional(),
        preferredDuringSchedulingIgnoredDuringExecution: z.array(z.object({ weight: int(1, 100), preference: nodeSelectorTerm }).strict()).optional(),
      })
      .strict()
      .optional(),
    podAffinity: podAffinity.optional(),
    podAntiAffinity: podAffinity.optional(),
  })
  .strict()

const toleration = z
  .object({
    key: z.string().optional(),
    operator: z.enum(['Exists', 'Equal']).optional(),
    value: z.string().optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.number().int().optional(),
  })
  .strict()

const topologySpreadConstraint = z
  .object({
    maxSkew: int(1, 2_147_483_647),
    topologyKey: z.string().min(1),
    whenUnsatisfiable: z.enum(['DoNotSchedule', 'ScheduleAnyway']),
    labelSelector: labelSelector.optional(),
    minDomains: int(1, 2_147_483_647).optional(),
    nodeAffinityPolicy: z.enum(['Honor', 'Ignore']).optional(),
    nodeTaintsPolicy: z.enum(['Honor', 'Ignore']).optional(),
    matchLabelKeys: z.array(z.string()).optional(),
  })
  .strict()

const keyRef = z.object({ name: dnsSubdomain, key: z.string().min(1), optional: z.boolean().optional() }).strict()
const envVar = z
  .object({
    name: envName.refine((n) => !RESERVED_WORKER_ENV.includes(n), { message: 'is a variable the operator sets' }),
    value: z.string().optional(),
    valueFrom: z
      .object({ secretKeyRef: keyRef.optional(), configMapKeyRef: keyRef.optional() })
      .strict()
      .refine((v) => (v.secretKeyRef ? 1 : 0) + (v.configMapKeyRef ? 1 : 0) === 1, 'must name exactly one of secretKeyRef and configMapKeyRef')
      .optional(),
  })
  .strict()
  .refine((e) => !(e.value !== undefined && e.valueFrom), { message: 'must have value or valueFrom, not both', path: ['valueFrom'] })
const envFrom = z
  .object({
    prefix: envName.optional(),
    secretRef: z.object({ name: dnsSubdomain, optional: z.boolean().optional() }).strict().optional(),
    configMapRef: z.object({ name: dnsSubdomain, optional: z.boolean().optional() }).strict().optional(),
  })
  .strict()
  .refine((e) => (e.secretRef ? 1 : 0) + (e.configMapRef ? 1 : 0) === 1, 'must name exactly one of secretRef and configMapRef')

export const podTemplateSchema = z
  .object({
    pod: z
      .object({
        metadata: z
          .object({
            labels: z.record(qualifiedName, labelValue).superRefine(ownKeys).optional(),
            annotations: z.record(qualifiedName, z.string()).superRefine(ownKeys).optional(),
          })
          .strict()
          .optional(),
        imagePullSecrets: z.array(z.object({ name: dnsSubdomain }).strict()).optional(),
        nodeSelector: z.record(z.string(), z.string()).optional(),
        /** Replaces the default (shards preferably on different nodes) when given. */
        affinity: affinitySchema.optional(),
        tolerations: z.array(toleration).optional(),
        topologySpreadConstraints: z.array(topologySpreadConstraint).optional(),
        priorityClassName: dnsSubdomain.optional(),
        serviceAccountName: dnsSubdomain.optional(),
      })
      .strict()
      .optional(),
    container: z
      .object({
        imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
        env: z.array(envVar).optional(),
        envFrom: z.array(envFrom).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()

export type PodTemplate = z.infer<typeof podTemplateSchema>
