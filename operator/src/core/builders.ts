import { createHash } from 'node:crypto'
import type { V1EnvVar, V1OwnerReference, V1PersistentVolumeClaim, V1Pod, V1PodDisruptionBudget, V1ResourceRequirements, V1Service, V1StatefulSet, V1Volume, V1VolumeMount } from '@kubernetes/client-node'
import { API_VERSION, KIND, type PipelineSpec, type PodTemplate, type SecurityProtocol, type WorkerEnvName } from '@ridepulse/contracts'
import { envVars, remoteSnapshots, secretEnv, standbyEnv } from './worker-vars.js'

/** What the builders need to know of the resource. */
export interface Owner {
  name: string
  namespace: string
  uid: string
  /** The resource's `ridepulse.io/restart` annotation: a new value rolls every pod, one shard at a time. */
  restartedAt?: string
}

export const FIELD_MANAGER = 'ridepulse-operator'
export const LABEL_INSTANCE = 'app.kubernetes.io/instance'
export const LABEL_COMPONENT = 'app.kubernetes.io/component'
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by'
export const LABEL_SHARD = 'ridepulse.io/shard'
/** With standby shards: which pod of a shard's pair (0 or 1). */
export const LABEL_SLOT = 'ridepulse.io/slot'
export const ANNOTATION_SPEC_HASH = 'ridepulse.io/spec-hash'
/** Set on a recovering shard's pod to make its kubelet try again at once (see `NUDGE_AFTER_MS`). */
export const ANNOTATION_NUDGED_AT = 'ridepulse.io/kubelet-nudged-at'
/** How many times it was. */
export const ANNOTATION_NUDGES = 'ridepulse.io/kubelet-nudges'
/** On the resource: a new value (a time, by convention) asks for a rolling restart of every pod. */
export const ANNOTATION_RESTART = 'ridepulse.io/restart'
/** On the resource: "true" stops reconciliation until it is removed or set otherwise. */
export const ANNOTATION_PAUSE = 'ridepulse.io/pause-reconciliation'
/** On pods and the OpA template: the restart they were made for. */
export const ANNOTATION_RESTARTED_AT = 'ridepulse.io/restarted-at'
/** On the OpA StatefulSet while it is held at zero replicas before its instance count changes. */
export const ANNOTATION_OPA_PAUSED = 'ridepulse.io/paused-for-instances'
export const FINALIZER = 'ridepulse.io/claims'
export const WORKER_PORT = 8080
export const DATA_DIR = '/data'
/** UID and GID the worker image runs as. */
export const WORKER_UID = 10001

export const names = {
  opa: (p: string) => `${p}-opa`,
  opbBudget: (p: string) => `${p}-opb`,
  opbService: (p: string) => `${p}-opb`,
  opbPod: (p: string, shard: number, slot = 0) => `${p}-opb-${shard}${slot ? '-b' : ''}`,
  opbClaim: (p: string, shard: number, slot = 0) => `data-${p}-opb-${shard}${slot ? '-b' : ''}`,
}

export const selectorLabels = (pipeline: string, component: 'opa' | 'opb'): Record<string, string> => ({
  'app.kubernetes.io/name': 'ridepulse',
  [LABEL_INSTANCE]: pipeline,
  [LABEL_COMPONENT]: component,
})

const labels = (pipeline: string, component: 'opa' | 'opb', extra: Record<string, string> = {}) => ({
  ...selectorLabels(pipeline, component),
  [LABEL_MANAGED_BY]: FIELD_MANAGER,
  ...extra,
})

/** Every object points at its resource; only workloads are controlled by it. */
export const ownerReference = (o: Owner, controller = true): V1OwnerReference => ({
  apiVersion: API_VERSION,
  kind: KIND,
  name: o.name,
  uid: o.uid,
  controller,
  blockOwnerDeletion: true,
})

/** A stable short hash of a value, for spotting pods whose template changed. */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16)
}

/** Where the TLS files from the resource's Secrets are mounted in a worker's container. */
export const KAFKA_CA_DIR = '/etc/ridepulse/kafka-ca'
export const KAFKA_CLIENT_DIR = '/etc/ridepulse/kafka-client'

/**
 * The Secrets of `spec.kafka.tls` as volumes and mounts, each key under a
 * fixed file name, readable by the worker's group only.
 */
function kafkaTlsVolumes(spec: PipelineSpec): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const tls = spec.kafka.tls
  const volumes: V1Volume[] = []
  const mounts: V1VolumeMount[] = []
  const add = (name: string, secretName: string, items: { key: string; path: string }[], mountPath: string) => {
    volumes.push({ name, secret: { secretName, items, defaultMode: 0o440 } })
    mounts.push({ name, mountPath, readOnly: true })
  }
  if (tls?.caSecretName) add('kafka-ca', tls.caSecretName, [{ key: tls.caKey, path: 'ca.crt' }], KAFKA_CA_DIR)
  if (tls?.clientSecretName) add('kafka-client', tls.clientSecretName, [{ key: tls.certKey, path: 'tls.crt' }, { key: tls.keyKey, path: 'tls.key' }], KAFKA_CLIENT_DIR)
  return { volumes, mounts }
}

/** Kafka's `security.protocol` for the resource: TLS and SASL each on when the spec names them. */
export const securityProtocolOf = (spec: PipelineSpec): SecurityProtocol =>
  spec.kafka.tls ? (spec.kafka.credentials ? 'SASL_SSL' : 'SSL') : spec.kafka.credentials ? 'SASL_PLAINTEXT' : 'PLAINTEXT'

function commonEnv(o: Owner, spec: PipelineSpec): V1EnvVar[] {
  const t = spec.topics
  const out = envVars({
    PIPELINE: o.name,
    PIPELINE_NAMESPACE: o.namespace,
    KAFKA_BROKERS: spec.kafka.bootstrapServers,
    KAFKA_SECURITY_PROTOCOL: securityProtocolOf(spec),
    KAFKA_TLS_CA_FILE: spec.kafka.tls?.caSecretName ? `${KAFKA_CA_DIR}/ca.crt` : undefined,
    KAFKA_TLS_CERT_FILE: spec.kafka.tls?.clientSecretName ? `${KAFKA_CLIENT_DIR}/tls.crt` : undefined,
    KAFKA_TLS_KEY_FILE: spec.kafka.tls?.clientSecretName ? `${KAFKA_CLIENT_DIR}/tls.key` : undefined,
    TOPIC_ORDERS: t.orders,
    TOPIC_ENRICHED: t.enriched,
    TOPIC_DLQ: t.dlq,
    TOPIC_OUTPUT: t.output,
    TOPIC_LATE: t.late,
    TOPIC_CHANGELOG: t.changelog,
    TOPIC_SNAPSHOTS: t.snapshots,
    ORDERS_PARTITIONS: t.ordersPartitions,
    SHARDS: spec.opb.shards,
    TOPIC_REPLICATION_FACTOR: spec.kafka.replicationFactor,
    HTTP_PORT: WORKER_PORT,
    LOG_LEVEL: spec.logLevel,
    COMMIT_INTERVAL_MS: spec.commitIntervalMs,
    MAX_FUTURE_SKEW_MS: spec.windows.maxFutureSkewMs,
    DLQ_MAX_VALUE_BYTES: spec.deadLetters.maxValueBytes,
  })
  const c = spec.kafka.credentials
  if (c) {
    out.push(
      ...envVars({ KAFKA_SASL_MECHANISM: c.mechanism }),
      secretEnv('KAFKA_SASL_USERNAME', c.secretName, c.usernameKey),
      secretEnv('KAFKA_SASL_PASSWORD', c.secretName, c.passwordKey),
    )
  }
  return out
}

const containerSecurity = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
}
const podSecurity = {
  runAsNonRoot: true,
  runAsUser: WORKER_UID,
  runAsGroup: WORKER_UID,
  fsGroup: WORKER_UID,
  seccompProfile: { type: 'RuntimeDefault' },
}
const probes = {
  readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1, failureThreshold: 2 },
  livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5, failureThreshold: 6 },
}
const toResources = (r: PipelineSpec['opb']['resources']): V1ResourceRequirements | undefined =>
  r ? ({ ...(r.requests ? { requests: r.requests } : {}), ...(r.limits ? { limits: r.limits } : {}) } as V1ResourceRequirements) : undefined

/** The component's pods preferably on different nodes: a node lost takes one shard, not several. */
const spreadOverNodes = (pipeline: string, component: 'opa' | 'opb') => ({
  podAntiAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: selectorLabels(pipeline, component) }, topologyKey: 'kubernetes.io/hostname' } }],
  },
})

/**
 * What `template` adds to a component's pods (spec.opa.template,
 * spec.opb.template): scheduling and pull secrets on the pod, extra
 * environment after the operator's own on the container. The schema keeps
 * a template from setting the operator's labels or variables.
 */
function fromTemplate(t: PodTemplate | undefined, pipeline: string, component: 'opa' | 'opb') {
  const p = t?.pod ?? {}
  const c = t?.container ?? {}
  return {
    labels: p.metadata?.labels ?? {},
    annotations: p.metadata?.annotations ?? {},
    pod: {
      affinity: p.affinity ?? spreadOverNodes(pipeline, component),
      ...(p.imagePullSecrets ? { imagePullSecrets: p.imagePullSecrets } : {}),
      ...(p.nodeSelector ? { nodeSelector: p.nodeSelector } : {}),
      ...(p.tolerations ? { tolerations: p.tolerations } : {}),
      ...(p.topologySpreadConstraints ? { topologySpreadConstraints: p.topologySpreadConstraints } : {}),
      ...(p.priorityClassName ? { priorityClassName: p.priorityClassName } : {}),
      ...(p.serviceAccountName ? { serviceAccountName: p.serviceAccountName } : {}),
    },
    imagePullPolicy: c.imagePullPolicy ?? 'IfNotPresent',
    env: (c.env ?? []) as V1EnvVar[],
    ...(c.envFrom ? { envFrom: c.envFrom } : {}),
  }
}

/**
 * Whether OpA must be held at zero replicas first. OpA instance i owns the
 * orders partitions p with p % instances == i, so old and new instances of
 * a different count would own some partitions twice; a count change
 * therefore stops every old instance before any new one starts.
 */
export function planOpa(current: V1StatefulSet | undefined, spec: PipelineSpec, opaPods: number): { hold: boolean } {
  if (!current) return { hold: false }
  if (current.metadata?.annotations?.[ANNOTATION_OPA_PAUSED] !== undefined) return { hold: opaPods > 0 }
  const env = current.spec?.template.spec?.containers[0]?.env ?? []
  const running = env.find((e) => e.name === 'OPA_INSTANCES')?.value
  return { hold: running !== undefined && running !== String(spec.opa.replicas) && opaPods > 0 }
}

/** OpA: stateless, but its transactional ids follow its ordinal, so a StatefulSet gives it stable identities. */
export function buildOpaStatefulSet(o: Owner, spec: PipelineSpec, hold = false): V1StatefulSet {
  const env: V1EnvVar[] = [
    ...envVars({ ROLE: 'opa', OPA_INSTANCES: spec.opa.replicas }),
    // The ordinal: `<pipeline>-opa-<i>` owns the orders partitions p with p % replicas == i.
    { name: 'OPA_INDEX' satisfies WorkerEnvName, valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } } },
    ...commonEnv(o, spec),
  ]
  const tls = kafkaTlsVolumes(spec)
  const t = fromTemplate(spec.opa.template, o.name, 'opa')
  const podAnnotations = { ...t.annotations, ...(o.restartedAt ? { [ANNOTATION_RESTARTED_AT]: o.restartedAt } : {}) }
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: names.opa(o.name),
      namespace: o.namespace,
      labels: labels(o.name, 'opa'),
      ...(hold ? { annotations: { [ANNOTATION_OPA_PAUSED]: String(spec.opa.replicas) } } : {}),
      ownerReferences: [ownerReference(o)],
    },
    spec: {
      serviceName: names.opa(o.name),
      replicas: hold ? 0 : spec.opa.replicas,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels(o.name, 'opa') },
      template: {
        metadata: { labels: { ...t.labels, ...labels(o.name, 'opa') }, ...(Object.keys(podAnnotations).length > 0 ? { annotations: podAnnotations } : {}) },
        spec: {
          enableServiceLinks: false,
          automountServiceAccountToken: false,
          securityContext: podSecurity,
          terminationGracePeriodSeconds: 30,
          ...t.pod,
          containers: [
            {
              name: 'opa',
              image: spec.opa.image,
              imagePullPolicy: t.imagePullPolicy,
              env: [...env, ...t.env],
              ...(t.envFrom ? { envFrom: t.envFrom } : {}),
              ports: [{ name: 'http', containerPort: WORKER_PORT }],
              ...probes,
              terminationMessagePolicy: 'FallbackToLogsOnError',
              ...(spec.opa.resources ? { resources: toResources(spec.opa.resources) } : {}),
              ...(tls.mounts.length > 0 ? { volumeMounts: tls.mounts } : {}),
              securityContext: containerSecurity,
            },
          ],
          ...(tls.volumes.length > 0 ? { volumes: tls.volumes } : {}),
        },
      },
    },
  }
}

function headless(o: Owner, name: string, component: 'opa' | 'opb'): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: o.namespace, labels: labels(o.name, component), ownerReferences: [ownerReference(o)] },
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(o.name, component),
      ports: [{ name: 'http', port: WORKER_PORT, targetPort: 'http' }],
    },
  }
}

export const buildOpaService = (o: Owner): V1Service => headless(o, names.opa(o.name), 'opa')
export const buildOpbService = (o: Owner): V1Service => headless(o, names.opbService(o.name), 'opb')

/**
 * A drain or an eviction takes one OpB shard at a time: at most one shard
 * pod may be down by choice, so the next eviction is refused while the
 * shard before it recovers. `minAvailable` is a count, not a percentage:
 * the disruption controller then needs no scale subresource of the
 * resource, only the pods. A pod that is not ready (crash-looping, say)
 * may always be evicted: it protects nothing, and must not hold a drain.
 */
export function buildOpbDisruptionBudget(o: Owner, spec: PipelineSpec): V1PodDisruptionBudget {
  // Each shard's pair counts: one pod of all may be away at a time.
  return budget(o, names.opbBudget(o.name), 'opb', { minAvailable: spec.opb.shards * (spec.opb.standby.enabled ? 2 : 1) - 1 })
}

/** OpA's instances, one at a time as well (its StatefulSet gives the disruption controller its scale). */
export function buildOpaDisruptionBudget(o: Owner): V1PodDisruptionBudget {
  return budget(o, names.opa(o.name), 'opa', { maxUnavailable: 1 })
}

function budget(o: Owner, name: string, component: 'opa' | 'opb', limit: { minAvailable: number } | { maxUnavailable: number }): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace: o.namespace, labels: labels(o.name, component), ownerReferences: [ownerReference(o)] },
    spec: { ...limit, selector: { matchLabels: selectorLabels(o.name, component) }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
  }
}

/**
 * The part of the spec an OpB pod is built from (its template's labels and
 * annotations too), and the restart it was asked for: when any changes,
 * pods are rolled one at a time. (Without a
 * restart the hash is the body's alone, as it was before restarts existed.)
 */
export const opbTemplateHash = (o: Owner, spec: PipelineSpec): string => {
  const body = buildOpbPodBody(o, spec, 0)
  const metadata = spec.opb.template?.pod?.metadata
  return hashOf(o.restartedAt || metadata ? { body, ...(metadata ? { metadata } : {}), ...(o.restartedAt ? { restartedAt: o.restartedAt } : {}) } : body)
}

/** With standby shards, the two pods of a shard on different nodes first of all, then the component spread as usual. */
const pairApart = (pipeline: string, shard: number) => ({
  podAntiAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: [
      { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { ...selectorLabels(pipeline, 'opb'), [LABEL_SHARD]: String(shard) } }, topologyKey: 'kubernetes.io/hostname' } },
      { weight: 50, podAffinityTerm: { labelSelector: { matchLabels: selectorLabels(pipeline, 'opb') }, topologyKey: 'kubernetes.io/hostname' } },
    ],
  },
})

function buildOpbPodBody(o: Owner, spec: PipelineSpec, shard: number, slot = 0) {
  const env: V1EnvVar[] = [
    ...envVars({
      ROLE: 'opb',
      SHARD: shard,
      DATA_DIR,
      SNAPSHOT_MODE: spec.snapshots.mode,
      SNAPSHOT_INTERVAL_MS: spec.snapshots.intervalMs,
      SNAPSHOT_FULL_EVERY: spec.snapshots.fullEvery,
      SNAPSHOT_KEEP: spec.snapshots.keep,
      WINDOW_SIZE_MS: spec.windows.sizeMs,
      ALLOWED_LATENESS_MS: spec.windows.allowedLatenessMs,
      OUT_OF_ORDERNESS_MS: spec.windows.outOfOrdernessMs,
      IDLE_TIMEOUT_MS: spec.windows.idleTimeoutMs,
      RETENTION_MS: spec.windows.retentionMs,
    }),
    ...commonEnv(o, spec),
  ]
  const remote = remoteSnapshots(spec)
  env.push(...remote.env, ...standbyEnv(spec, slot))
  const tls = kafkaTlsVolumes(spec)
  const t = fromTemplate(spec.opb.template, o.name, 'opb')
  if (spec.opb.standby.enabled && !spec.opb.template?.pod?.affinity) t.pod.affinity = pairApart(o.name, shard)
  return {
    enableServiceLinks: false,
    automountServiceAccountToken: false,
    hostname: names.opbPod(o.name, shard, slot),
    subdomain: names.opbService(o.name),
    securityContext: podSecurity,
    terminationGracePeriodSeconds: 30,
    restartPolicy: 'Always',
    ...t.pod,
    containers: [
      {
        name: 'opb',
        image: spec.opb.image,
        imagePullPolicy: t.imagePullPolicy,
        env: [...env, ...t.env],
        ...(t.envFrom ? { envFrom: t.envFrom } : {}),
        ports: [{ name: 'http', containerPort: WORKER_PORT }],
        ...probes,
        // The tail of its log becomes the termination message: the status can then say why it exited.
        terminationMessagePolicy: 'FallbackToLogsOnError',
        ...(spec.opb.resources ? { resources: toResources(spec.opb.resources) } : {}),
        volumeMounts: [{ name: 'data', mountPath: DATA_DIR }, ...tls.mounts, ...remote.mounts],
        securityContext: containerSecurity,
      },
    ],
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName: names.opbClaim(o.name, shard, slot) } }, ...tls.volumes, ...remote.volumes],
  }
}

/** One OpB shard's pod, on its own claim. Managed directly: recreated by the operator, never by a StatefulSet. */
/** The labels of a shard's pod and claim: its shard, and its slot with standby shards. */
const unitLabels = (spec: PipelineSpec, shard: number, slot: number) => ({ [LABEL_SHARD]: String(shard), ...(spec.opb.standby.enabled ? { [LABEL_SLOT]: String(slot) } : {}) })

export function buildOpbPod(o: Owner, spec: PipelineSpec, shard: number, slot = 0): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: names.opbPod(o.name, shard, slot),
      namespace: o.namespace,
      labels: { ...spec.opb.template?.pod?.metadata?.labels, ...labels(o.name, 'opb', unitLabels(spec, shard, slot)) },
      annotations: { ...spec.opb.template?.pod?.metadata?.annotations, [ANNOTATION_SPEC_HASH]: opbTemplateHash(o, spec), ...(o.restartedAt ? { [ANNOTATION_RESTARTED_AT]: o.restartedAt } : {}) },
      ownerReferences: [ownerReference(o)],
    },
    spec: buildOpbPodBody(o, spec, shard, slot) as V1Pod['spec'],
  }
}

/**
 * One OpB shard's claim. It outlives its pods; whether it outlives the
 * resource is `storage.deleteClaim` (the finalizer deletes or releases it),
 * so its owner reference is not a controller one.
 */
export function buildOpbClaim(o: Owner, spec: PipelineSpec, shard: number, slot = 0): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: names.opbClaim(o.name, shard, slot),
      namespace: o.namespace,
      labels: labels(o.name, 'opb', unitLabels(spec, shard, slot)),
      ownerReferences: [ownerReference(o, false)],
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: String(spec.opb.storage.size) } },
      ...(spec.opb.storage.storageClassName ? { storageClassName: spec.opb.storage.storageClassName } : {}),
    },
  }
}
