import { describe, expect, it } from 'vitest'
import { ANNOTATION_OPA_PAUSED, buildOpaDisruptionBudget, buildOpaStatefulSet, buildOpbClaim, buildOpbDisruptionBudget, buildOpbPod, opbTemplateHash, planOpa, type Owner } from './builders.js'
import { parseResource, parseWorkerEnv, type PipelineSpecInput } from '@ridepulse/contracts'

const owner: Owner = { name: 'rides', namespace: 'city', uid: 'uid-1' }
const specOf = (s: Partial<PipelineSpecInput> = {}) => {
  const r = parseResource({ namespace: 'city', name: 'rides' }, { kafka: { bootstrapServers: ['k1:9092', 'k2:9092'] }, ...s })
  if (!r.ok) throw new Error(JSON.stringify(r.issues))
  return r.spec
}
const env = (list: { name: string; value?: string }[] | undefined) => Object.fromEntries((list ?? []).map((e) => [e.name, e.value]))

describe('builders', () => {
  it('builds an OpB pod bound to its own claim, configured for its shard, locked down', () => {
    const pod = buildOpbPod(owner, specOf({ snapshots: { mode: 'full' } }), 2)
    expect(pod.metadata).toMatchObject({ name: 'rides-opb-2', namespace: 'city', labels: { 'ridepulse.io/shard': '2', 'app.kubernetes.io/component': 'opb' } })
    expect(pod.metadata?.ownerReferences).toEqual([{ apiVersion: 'ridepulse.io/v1alpha1', kind: 'StatefulOperator', name: 'rides', uid: 'uid-1', controller: true, blockOwnerDeletion: true }])
    expect(pod.spec?.volumes).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: 'data-rides-opb-2' } }])
    const c = pod.spec!.containers[0]!
    expect(env(c.env)).toMatchObject({ ROLE: 'opb', SHARD: '2', SHARDS: '3', DATA_DIR: '/data', SNAPSHOT_MODE: 'full', PIPELINE: 'rides', KAFKA_BROKERS: 'k1:9092,k2:9092' })
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } })
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz')
  })

  it('gives every shard the same template hash, and a new one when the spec changes what pods run', () => {
    const s = specOf()
    expect(buildOpbPod(owner, s, 0).metadata?.annotations).toEqual(buildOpbPod(owner, s, 7).metadata?.annotations)
    expect(opbTemplateHash(owner, specOf({ commitIntervalMs: 50 }))).not.toBe(opbTemplateHash(owner, s))
    expect(opbTemplateHash(owner, specOf({ opb: { storage: { deleteClaim: true } } }))).toBe(opbTemplateHash(owner, s))
  })

  it('rolls every pod for a restart: a new restart value is a new template hash, and OpA\'s template carries it too', () => {
    const s = specOf()
    const restarted = { ...owner, restartedAt: '2026-12-04T10:00:00Z' }
    expect(opbTemplateHash(restarted, s)).not.toBe(opbTemplateHash(owner, s))
    expect(opbTemplateHash({ ...owner, restartedAt: 'later' }, s)).not.toBe(opbTemplateHash(restarted, s))
    expect(buildOpbPod(restarted, s, 1).metadata?.annotations?.['ridepulse.io/restarted-at']).toBe('2026-12-04T10:00:00Z')
    expect(buildOpaStatefulSet(restarted, s).spec?.template.metadata?.annotations).toEqual({ 'ridepulse.io/restarted-at': '2026-12-04T10:00:00Z' })
    expect(buildOpaStatefulSet(owner, s).spec?.template.metadata?.annotations).toBeUndefined()
  })

  it('puts the template on the pods: scheduling, pull secrets, labels and extra environment after the operator\'s own', () => {
    const template = {
      pod: {
        metadata: { labels: { team: 'dispatch' }, annotations: { 'example.com/owner': 'rides' } },
        imagePullSecrets: [{ name: 'registry' }],
        nodeSelector: { 'node.kubernetes.io/pool': 'stream' },
        tolerations: [{ key: 'dedicated', operator: 'Equal' as const, value: 'stream', effect: 'NoSchedule' as const }],
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' as const }],
        priorityClassName: 'stream-high',
        serviceAccountName: 'pipeline',
      },
      container: { imagePullPolicy: 'Always' as const, env: [{ name: 'COMMIT_MAX_RECORDS', value: '20000' }, { name: 'TZ', valueFrom: { configMapKeyRef: { name: 'clock', key: 'tz' } } }], envFrom: [{ secretRef: { name: 'extra' } }] },
    }
    const s = specOf({ opa: { template }, opb: { template } })
    for (const [podMeta, spec] of [[buildOpbPod(owner, s, 1).metadata, buildOpbPod(owner, s, 1).spec], [buildOpaStatefulSet(owner, s).spec?.template.metadata, buildOpaStatefulSet(owner, s).spec?.template.spec]] as const) {
      expect(podMeta?.labels).toMatchObject({ team: 'dispatch', 'app.kubernetes.io/instance': 'rides' })
      expect(podMeta?.annotations).toMatchObject({ 'example.com/owner': 'rides' })
      expect(spec).toMatchObject({ imagePullSecrets: [{ name: 'registry' }], nodeSelector: { 'node.kubernetes.io/pool': 'stream' }, tolerations: template.pod.tolerations, topologySpreadConstraints: template.pod.topologySpreadConstraints, priorityClassName: 'stream-high', serviceAccountName: 'pipeline' })
      const c = spec!.containers[0]!
      expect(c.imagePullPolicy).toBe('Always')
      expect(c.env?.slice(-2)).toEqual(template.container.env)
      expect(c.env?.filter((e) => e.name === 'PIPELINE')).toHaveLength(1)
      expect(c.envFrom).toEqual([{ secretRef: { name: 'extra' } }])
    }
    // A label of the template is part of what rolls the OpB pods.
    expect(opbTemplateHash(owner, specOf({ opb: { template: { pod: { metadata: { labels: { team: 'other' } } } } } }))).not.toBe(opbTemplateHash(owner, s))
  })

  it('spreads each component over nodes by default; a template\'s affinity replaces that', () => {
    const spread = buildOpbPod(owner, specOf(), 0).spec?.affinity
    expect(spread).toEqual({ podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'ridepulse', 'app.kubernetes.io/instance': 'rides', 'app.kubernetes.io/component': 'opb' } }, topologyKey: 'kubernetes.io/hostname' } }] } })
    expect(buildOpaStatefulSet(owner, specOf()).spec?.template.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm.labelSelector?.matchLabels?.['app.kubernetes.io/component']).toBe('opa')
    const zone = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In' as const, values: ['a'] }] }] } } }
    expect(buildOpbPod(owner, specOf({ opb: { template: { pod: { affinity: zone } } } }), 0).spec?.affinity).toEqual(zone)
    expect(buildOpbPod(owner, specOf(), 0).spec?.containers[0]?.imagePullPolicy).toBe('IfNotPresent')
  })

  it.each([[1, 0], [3, 2], [8, 7]])('lets a drain take one of %i shards at a time (minAvailable %i), and OpA one instance at a time', (shards, minAvailable) => {
    const b = buildOpbDisruptionBudget(owner, specOf({ opb: { shards } }))
    expect(b.metadata).toMatchObject({ name: 'rides-opb', namespace: 'city' })
    expect(b.spec).toEqual({ minAvailable, selector: { matchLabels: { 'app.kubernetes.io/name': 'ridepulse', 'app.kubernetes.io/instance': 'rides', 'app.kubernetes.io/component': 'opb' } }, unhealthyPodEvictionPolicy: 'AlwaysAllow' })
    expect(buildOpaDisruptionBudget(owner).spec).toMatchObject({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/component': 'opa' } } })
  })

  it.each([
    ['defaults', {}],
    ['every setting changed', { snapshots: { mode: 'full', intervalMs: 5000, fullEvery: 2, keep: 5 }, windows: { sizeMs: 30_000, allowedLatenessMs: 0, maxFutureSkewMs: 1000 }, commitIntervalMs: 50, logLevel: 'debug', deadLetters: { maxValueBytes: 1024 }, kafka: { bootstrapServers: ['k:9093'], credentials: { secretName: 'u', mechanism: 'PLAIN' } } }],
    ['SASL over mutual TLS', { kafka: { bootstrapServers: ['k:9093'], credentials: { secretName: 'u' }, tls: { caSecretName: 'ca', clientSecretName: 'client' } } }],
    ['TLS on the runtime\'s authorities', { kafka: { bootstrapServers: ['k:9093'], tls: {} } }],
  ] as [string, Partial<PipelineSpecInput>][])('renders an environment the worker accepts as it is meant (%s)', (_, s) => {
    const spec = specOf(s)
    // What the kubelet would fill in from the Secret and the pod's labels.
    const resolved = (list: { name: string; value?: string }[]) => ({ ...env(list), KAFKA_SASL_USERNAME: spec.kafka.credentials ? 'u' : undefined, KAFKA_SASL_PASSWORD: spec.kafka.credentials ? 'p' : undefined })
    const opb = parseWorkerEnv(resolved(buildOpbPod(owner, spec, 1).spec!.containers[0]!.env!))
    expect(opb).toMatchObject({ ok: true, config: { ROLE: 'opb', SHARD: 1, COMMIT_INTERVAL_MS: spec.commitIntervalMs, SNAPSHOT_MODE: spec.snapshots.mode, WINDOW_SIZE_MS: spec.windows.sizeMs, MAX_FUTURE_SKEW_MS: spec.windows.maxFutureSkewMs, DLQ_MAX_VALUE_BYTES: spec.deadLetters.maxValueBytes, KAFKA_BROKERS: spec.kafka.bootstrapServers } })
    const opa = parseWorkerEnv({ ...resolved(buildOpaStatefulSet(owner, spec).spec!.template.spec!.containers[0]!.env!), OPA_INDEX: '0' })
    expect(opa).toMatchObject({ ok: true, config: { ROLE: 'opa', OPA_INSTANCES: spec.opa.replicas, TOPIC_ORDERS: spec.topics.orders } })
  })

  it('takes SASL credentials from the Secret, never into the pod spec', () => {
    const pod = buildOpbPod(owner, specOf({ kafka: { bootstrapServers: ['k:9092'], credentials: { secretName: 'kafka-user' } } }), 0)
    const e = pod.spec!.containers[0]!.env!
    expect(e.find((x) => x.name === 'KAFKA_SASL_PASSWORD')).toEqual({ name: 'KAFKA_SASL_PASSWORD', valueFrom: { secretKeyRef: { name: 'kafka-user', key: 'password' } } })
    expect(e.find((x) => x.name === 'KAFKA_SASL_MECHANISM')?.value).toBe('SCRAM-SHA-512')
  })

  it('mounts the TLS Secrets read-only under fixed names and points the worker at them', () => {
    const spec = specOf({ kafka: { bootstrapServers: ['k:9093'], credentials: { secretName: 'kafka-user' }, tls: { caSecretName: 'kafka-ca', caKey: 'root.pem', clientSecretName: 'kafka-client' } } })
    for (const podSpec of [buildOpbPod(owner, spec, 0).spec!, buildOpaStatefulSet(owner, spec).spec!.template.spec!]) {
      expect(podSpec.volumes).toEqual(expect.arrayContaining([
        { name: 'kafka-ca', secret: { secretName: 'kafka-ca', items: [{ key: 'root.pem', path: 'ca.crt' }], defaultMode: 0o440 } },
        { name: 'kafka-client', secret: { secretName: 'kafka-client', items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }], defaultMode: 0o440 } },
      ]))
      const c = podSpec.containers[0]!
      expect(c.volumeMounts).toEqual(expect.arrayContaining([
        { name: 'kafka-ca', mountPath: '/etc/ridepulse/kafka-ca', readOnly: true },
        { name: 'kafka-client', mountPath: '/etc/ridepulse/kafka-client', readOnly: true },
      ]))
      expect(env(c.env)).toMatchObject({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_TLS_CA_FILE: '/etc/ridepulse/kafka-ca/ca.crt', KAFKA_TLS_CERT_FILE: '/etc/ridepulse/kafka-client/tls.crt', KAFKA_TLS_KEY_FILE: '/etc/ridepulse/kafka-client/tls.key' })
    }
    // Turning TLS on rolls the shards; without it nothing TLS is rendered.
    expect(opbTemplateHash(owner, spec)).not.toBe(opbTemplateHash(owner, specOf({ kafka: { bootstrapServers: ['k:9093'], credentials: { secretName: 'kafka-user' } } })))
    const plain = buildOpbPod(owner, specOf(), 0).spec!
    expect(plain.volumes?.map((v) => v.name)).toEqual(['data'])
    expect(env(plain.containers[0]!.env)).toMatchObject({ KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT' })
    expect(env(plain.containers[0]!.env).KAFKA_TLS_CA_FILE).toBeUndefined()
  })

  it('points OpB (only) at the snapshot store: its variables, the keys from their Secret, the CA mounted; the worker accepts them', () => {
    const spec = specOf({ snapshots: { remote: { bucket: 'snaps', endpoint: 'https://minio.storage:9000', prefix: 'city/', credentials: { secretName: 'minio', accessKeyIdKey: 'user' }, caSecretName: 'minio-ca' } } })
    const podSpec = buildOpbPod(owner, spec, 1).spec!
    const c = podSpec.containers[0]!
    const vars = env(c.env)
    expect(vars).toMatchObject({ REMOTE_SNAPSHOTS_BUCKET: 'snaps', REMOTE_SNAPSHOTS_ENDPOINT: 'https://minio.storage:9000', REMOTE_SNAPSHOTS_PREFIX: 'city/', REMOTE_SNAPSHOTS_REGION: 'us-east-1', REMOTE_SNAPSHOTS_KEEP: '3', REMOTE_SNAPSHOTS_CA_FILE: '/etc/ridepulse/snapshots-ca/ca.crt' })
    expect(c.env!.filter((x) => x.name.startsWith('AWS_'))).toEqual([
      { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'minio', key: 'user' } } },
      { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: 'minio', key: 'AWS_SECRET_ACCESS_KEY' } } },
    ])
    expect(podSpec.volumes).toContainEqual({ name: 'snapshots-ca', secret: { secretName: 'minio-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }], defaultMode: 0o440 } })
    expect(c.volumeMounts).toContainEqual({ name: 'snapshots-ca', mountPath: '/etc/ridepulse/snapshots-ca', readOnly: true })
    const parsed = parseWorkerEnv({ ...vars, AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' })
    expect(parsed).toMatchObject({ ok: true, config: { REMOTE_SNAPSHOTS_BUCKET: 'snaps', REMOTE_SNAPSHOTS_KEEP: 3 } })
    // OpA copies nothing; without the setting nothing is rendered and the shards' template stays as it was.
    expect(env(buildOpaStatefulSet(owner, spec).spec!.template.spec!.containers[0]!.env).REMOTE_SNAPSHOTS_BUCKET).toBeUndefined()
    expect(Object.keys(env(buildOpbPod(owner, specOf(), 1).spec!.containers[0]!.env)).filter((n) => n.startsWith('REMOTE_') || n.startsWith('AWS_'))).toEqual([])
  })

  it('with standby shards, builds each shard\'s second pod on its own claim, both told their slot, the pair\'s timings and their own address; the pair kept apart', () => {
    const spec = specOf({ opb: { shards: 2, standby: { enabled: true, leaseMs: 800 } } })
    const [a, b] = [buildOpbPod(owner, spec, 1, 0), buildOpbPod(owner, spec, 1, 1)]
    expect([a.metadata!.name, b.metadata!.name]).toEqual(['rides-opb-1', 'rides-opb-1-b'])
    expect(b.spec!.volumes![0]).toEqual({ name: 'data', persistentVolumeClaim: { claimName: 'data-rides-opb-1-b' } })
    expect(buildOpbClaim(owner, spec, 1, 1).metadata).toMatchObject({ name: 'data-rides-opb-1-b', labels: { 'ridepulse.io/shard': '1', 'ridepulse.io/slot': '1' } })
    expect(b.metadata!.labels).toMatchObject({ 'ridepulse.io/shard': '1', 'ridepulse.io/slot': '1' })
    const envB = b.spec!.containers[0]!.env!
    expect(env(envB)).toMatchObject({ STANDBY_ENABLED: 'true', STANDBY_SLOT: '1', STANDBY_LEASE_MS: '800', STANDBY_HEARTBEAT_MS: '100', STANDBY_MAX_LAG_RECORDS: '50000' })
    expect(env(a.spec!.containers[0]!.env)).toMatchObject({ STANDBY_SLOT: '0' })
    expect(envB.find((e) => e.name === 'ADVERTISED_HOST')).toEqual({ name: 'ADVERTISED_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } })
    const terms = b.spec!.affinity!.podAntiAffinity!.preferredDuringSchedulingIgnoredDuringExecution!
    expect(terms[0]).toMatchObject({ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { 'ridepulse.io/shard': '1' } }, topologyKey: 'kubernetes.io/hostname' } })
    // The worker takes what the pod gives it (the address filled in by the kubelet).
    expect(parseWorkerEnv({ ...env(envB), ADVERTISED_HOST: '10.1.2.3' })).toMatchObject({ ok: true, config: { STANDBY_ENABLED: 'true', STANDBY_SLOT: 1, ADVERTISED_HOST: '10.1.2.3' } })
    // One pod of all four may be away at a time.
    expect(buildOpbDisruptionBudget(owner, spec).spec).toMatchObject({ minAvailable: 3 })
    // Without standby shards, nothing of it: same names, no slot, no variables.
    const plain = buildOpbPod(owner, specOf({ opb: { shards: 2 } }), 1)
    expect(plain.metadata!.labels!['ridepulse.io/slot']).toBeUndefined()
    expect(Object.keys(env(plain.spec!.containers[0]!.env)).filter((n) => n.startsWith('STANDBY_') || n === 'ADVERTISED_HOST')).toEqual([])
  })

  it('sizes the claim and keeps it from being the controller\'s', () => {
    const c = buildOpbClaim(owner, specOf({ opb: { storage: { size: '5Gi', storageClassName: 'local-path' } } }), 1)
    expect(c.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } }, storageClassName: 'local-path' })
    expect(c.metadata?.ownerReferences?.[0]?.controller).toBe(false)
  })

  it.each([
    ['no StatefulSet yet', undefined, undefined, 3, false],
    ['the same instance count', 1, undefined, 3, false],
    ['a new instance count while old instances run', 2, undefined, 1, true],
    ['a new instance count with no instance left', 2, undefined, 0, false],
    ['held, old instances still stopping', 2, '1', 1, true],
    ['held, every old instance gone', 2, '1', 0, false],
  ])('OpA with %s: hold at zero = %s', (_what, desired, paused, pods, hold) => {
    const current = desired === undefined ? undefined : buildOpaStatefulSet(owner, specOf({ opa: { replicas: 1 } }))
    if (current && paused) current.metadata!.annotations = { [ANNOTATION_OPA_PAUSED]: paused }
    expect(planOpa(current, specOf({ opa: { replicas: desired ?? 1 } }), pods as number)).toEqual({ hold })
  })

  it('holds OpA at zero replicas under an annotation naming the coming count', () => {
    const sts = buildOpaStatefulSet(owner, specOf({ opa: { replicas: 3 } }), true)
    expect(sts.spec?.replicas).toBe(0)
    expect(sts.metadata?.annotations).toEqual({ [ANNOTATION_OPA_PAUSED]: '3' })
  })

  it('gives OpA its ordinal and the instance count', () => {
    const sts = buildOpaStatefulSet(owner, specOf({ opa: { replicas: 2 } }))
    expect(sts.spec?.replicas).toBe(2)
    const e = sts.spec!.template.spec!.containers[0]!.env!
    expect(e.find((x) => x.name === 'OPA_INDEX')?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.labels['apps.kubernetes.io/pod-index']")
    expect(env(e)).toMatchObject({ ROLE: 'opa', OPA_INSTANCES: '2' })
  })

  it('passes the event-time bound and the dead-letter size to the workers', () => {
    const spec = specOf({ windows: { maxFutureSkewMs: 30_000 }, deadLetters: { maxValueBytes: 4096 } })
    for (const e of [buildOpaStatefulSet(owner, spec).spec!.template.spec!.containers[0]!.env, buildOpbPod(owner, spec, 0).spec!.containers[0]!.env]) {
      expect(env(e)).toMatchObject({ MAX_FUTURE_SKEW_MS: '30000', DLQ_MAX_VALUE_BYTES: '4096' })
    }
  })
})
