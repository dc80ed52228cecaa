import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Admin, ConfigResourceTypes } from '@platformatic/kafka'
import { type KubernetesObject, type V1PersistentVolumeClaim, type V1Pod, type V1StatefulSet } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest'
import { ANNOTATION_NUDGED_AT, ANNOTATION_NUDGES, WORKER_PORT } from '../src/core/builders.js'
import { Rest as SrcRest } from '../src/kube/rest.js'
import { ClusterWriter, type PipelineResource } from '../src/reconcile/writer.js'
import { NUDGE_AFTER_MS } from '../src/core/shards.js'
import { parseResource, RESERVED_WORKER_ENV, specSchema } from '@ridepulse/contracts'
import { sameJson, type PipelineStatus } from '../src/core/status.js'
// The Rest the test kit hands out is the built package's: errors are its ApiError.
import { ApiError, objectPath, type Rest } from '@ridepulse/operator'
import { applyYaml, ensureNamespace, loadAllYaml, helmTemplate, installCrd, listPods, markPodReady, repoRoot, resourcePath, restFor, serviceAccountKubeconfig, startOperator, startSecureKafka, TcpRelay, waitFor, type OperatorProcess, type SecureKafka } from '@ridepulse/testkit'

const OP_NS = 'ridepulse-system'
/** A loopback address of its own, so the worker's fixed port cannot clash with anything on 0.0.0.0. */
const WORKER_IP = '127.0.0.77'
const SA = 'ridepulse-ridepulse-operator'
let admin: Rest
let saKubeconfig: string
const operators: OperatorProcess[] = []
const run = Date.now().toString(36)

/** Every field a pod template has, each set to something the API server accepts on a pod. */
const EVERY_TEMPLATE_FIELD = {
  pod: {
    metadata: { labels: { team: 'dispatch', 'example.com/tier': 'stream' }, annotations: { 'example.com/owner': 'rides team' } },
    imagePullSecrets: [{ name: 'registry-pull' }],
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64', 'arm64'] }] }] },
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['busy-node'] }] } }],
      },
      podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 5, podAffinityTerm: { labelSelector: { matchLabels: { app: 'kafka' } }, topologyKey: 'topology.kubernetes.io/zone' } }] },
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchExpressions: [{ key: 'team', operator: 'Exists' }] }, namespaceSelector: {}, topologyKey: 'kubernetes.io/hostname', matchLabelKeys: ['pod-template-hash'] }] },
    },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'stream', effect: 'NoSchedule' }, { operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }],
    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { team: 'dispatch' } }, minDomains: 1, nodeAffinityPolicy: 'Honor', nodeTaintsPolicy: 'Ignore' }],
    priorityClassName: 'stream-high',
    serviceAccountName: 'pipeline',
  },
  container: {
    imagePullPolicy: 'Always',
    env: [{ name: 'COMMIT_MAX_RECORDS', value: '20000' }, { name: 'TZ', valueFrom: { configMapKeyRef: { name: 'clock', key: 'tz', optional: true } } }, { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'extra', key: 'token' } } }],
    envFrom: [{ prefix: 'EXTRA_', secretRef: { name: 'extra', optional: true } }, { configMapRef: { name: 'clock' } }],
  },
}

interface Resource extends KubernetesObject { spec: Record<string, unknown>; status?: PipelineStatus }

/** A pipeline resource whose topics are this run's own. */
function pipeline(name: string, ns: string, spec: Record<string, unknown> = {}): Resource {
  const t = `${run}-${name}`
  return {
    apiVersion: 'ridepulse.io/v1alpha1',
    kind: 'StatefulOperator',
    metadata: { name, namespace: ns },
    spec: {
      kafka: { bootstrapServers: [inject('kafkaBrokers')] },
      topics: { orders: `${t}.orders`, enriched: `${t}.enriched`, output: `${t}.output`, late: `${t}.late`, dlq: `${t}.dlq`, changelog: `${t}.changelog`, snapshots: `${t}.snapshots`, ordersPartitions: 3 },
      ...spec,
    },
  }
}

const getResource = (ns: string, name: string) => admin.get<Resource>(resourcePath(ns, name))
const eventsOf = async (ns: string) =>
  (await admin.get<{ items: { reason: string; message: string; type: string }[] }>(objectPath('v1', 'events', ns))).items

beforeAll(async () => {
  admin = restFor(inject('kubeconfig'))
  await installCrd(admin)
  await ensureNamespace(admin, OP_NS)
  // The chart's ServiceAccount and RBAC, as `helm install` would create them; the operator runs with them, not as an admin.
  // Every namespace (the tests make their own), and the kubelet nudge (off by
  // default) on, with the verbs the chart then grants, for its test below.
  const rendered = helmTemplate(inject('kubeBin'), OP_NS, ['kubeletNudge=true', 'watchAllNamespaces=true'])
  const rbac = loadAllYaml(rendered).filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o?.kind ?? ''))
  expect(rbac.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ServiceAccount'])
  for (const o of rbac) await applyYaml(admin, JSON.stringify(o), OP_NS)
  saKubeconfig = await serviceAccountKubeconfig(admin, OP_NS, SA, join(tmpdir(), `ridepulse-sa-${run}.kubeconfig`))
  operators.push(startOperator({ KUBECONFIG: saKubeconfig, LEASE_NAMESPACE: OP_NS, LEASE_NAME: SA, POD_NAME: 'operator-a', HTTP_PORT: '0', KUBELET_NUDGE: 'true', LAG_POLL_MS: '1000' }))
})

afterAll(async () => {
  for (const o of operators) await o.kill('SIGTERM')
})

describe('a StatefulOperator on a real API server, reconciled by the operator with the chart\'s RBAC', () => {
  const ns = `apply-${run}`

  it('creates the topics, the OpA StatefulSet, one pod and one claim per shard, and reports them in status', async () => {
    await ensureNamespace(admin, ns)
    const res = pipeline('rides', ns)
    await applyYaml(admin, JSON.stringify(res), ns)
    const status = await waitFor('status with 3 shards and the topics', async () => {
      const r = await getResource(ns, 'rides')
      return r.status?.shards?.length === 3 && r.status.topics?.length === 7 && r.status.shards.every((s) => s.podUid) ? r.status : undefined
    }, 30_000)
    expect(status.shardsReady).toBe('0/3')
    expect(status.topics?.every((t) => t.ready)).toBe(true)
    expect(status.conditions.find((c) => c.type === 'Ready')?.status).toBe('False')

    // The topics, on the real broker, with their partition counts and compaction.
    const kafka = new Admin({ clientId: 'op-test', bootstrapBrokers: [inject('kafkaBrokers')] })
    try {
      const t = `${run}-rides`
      const md = await kafka.metadata({ topics: [`${t}.orders`, `${t}.enriched`, `${t}.changelog`, `${t}.snapshots`, `${t}.dlq`], forceUpdate: true })
      expect(md.topics.get(`${t}.orders`)?.partitionsCount).toBe(3)
      expect(md.topics.get(`${t}.enriched`)?.partitionsCount).toBe(3)
      expect(md.topics.get(`${t}.dlq`)?.partitionsCount).toBe(1)
      const cfg = await kafka.describeConfigs({ resources: [`${t}.changelog`, `${t}.snapshots`, `${t}.orders`].map((n) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName: n, configurationKeys: ['cleanup.policy'] })) })
      expect(cfg.map((c) => c.configs[0]?.value)).toEqual(['compact', 'compact', 'delete'])
    } finally {
      await kafka.close()
    }

    const r = await getResource(ns, 'rides')
    const pods = await listPods(admin, ns, 'app.kubernetes.io/instance=rides,app.kubernetes.io/component=opb')
    expect(pods.map((p) => p.metadata?.name).sort()).toEqual(['rides-opb-0', 'rides-opb-1', 'rides-opb-2'])
    for (const p of pods) {
      const shard = p.metadata?.labels?.['ridepulse.io/shard']
      expect(p.spec?.volumes?.[0]?.persistentVolumeClaim?.claimName).toBe(`data-rides-opb-${shard}`)
      expect(p.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'StatefulOperator', uid: r.metadata?.uid, controller: true })
      expect(p.spec?.containers[0]?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false })
      expect(p.spec?.containers[0]?.env?.find((e) => e.name === 'SHARD')?.value).toBe(shard)
    }
    const claims = await admin.get<{ items: V1PersistentVolumeClaim[] }>(objectPath('v1', 'persistentvolumeclaims', ns))
    expect(claims.items.map((c) => c.metadata?.name).sort()).toEqual(['data-rides-opb-0', 'data-rides-opb-1', 'data-rides-opb-2'])
    const sts = await admin.get<V1StatefulSet>(objectPath('apps/v1', 'statefulsets', ns, 'rides-opa'))
    expect(sts.spec?.replicas).toBe(1)
    expect(sts.metadata?.ownerReferences?.[0]?.uid).toBe(r.metadata?.uid)
    expect((await eventsOf(ns)).filter((e) => e.reason === 'TopicCreated')).toHaveLength(7)
    expect(r.metadata?.finalizers).toContain('ridepulse.io/claims')
  })

  it('names the written topics it was not given after the namespace and the resource, and puts the namespace in the workers\' ids', async () => {
    const dns = `derived-${run}`
    await ensureNamespace(admin, dns)
    const res = pipeline('plain', dns)
    res.spec.topics = { orders: `${run}-plain.orders`, ordersPartitions: 2 }
    res.spec.opb = { shards: 2 }
    await applyYaml(admin, JSON.stringify(res), dns)
    const status = await waitFor('status with the topics', async () => {
      const r = await getResource(dns, 'plain')
      return r.status?.topics?.length === 7 && r.status.topics.every((t) => t.ready) ? r.status : undefined
    }, 30_000)
    const prefix = `${dns}.plain.`
    expect(status.topics?.map((t) => [t.role, t.name])).toEqual([
      ['orders', `${run}-plain.orders`],
      ['enriched', `${prefix}orders.enriched`],
      ['output', `${prefix}orders.output`],
      ['late', `${prefix}orders.late`],
      ['dlq', `${prefix}orders.dlq`],
      ['changelog', `${prefix}opb-changelog`],
      ['snapshots', `${prefix}opb-snapshots`],
    ])
    const kafka = new Admin({ clientId: 'op-test', bootstrapBrokers: [inject('kafkaBrokers')] })
    try {
      const md = await kafka.metadata({ topics: [`${prefix}opb-changelog`], forceUpdate: true })
      expect(md.topics.get(`${prefix}opb-changelog`)?.partitionsCount).toBe(2)
    } finally {
      await kafka.close()
    }
    const pods = await waitFor('both shards\' pods', async () => {
      const list = await listPods(admin, dns, 'app.kubernetes.io/instance=plain,app.kubernetes.io/component=opb')
      return list.length === 2 ? list : undefined
    }, 30_000)
    for (const p of pods) {
      const env = Object.fromEntries((p.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]))
      expect(env).toMatchObject({ PIPELINE: 'plain', PIPELINE_NAMESPACE: dns, TOPIC_CHANGELOG: `${prefix}opb-changelog` })
    }
  })

  it('recreates exactly the deleted OpB pod on its claim, leaves OpA and the other shards alone, and records the recovery', async () => {
    for (const i of [0, 1, 2]) await markPodReady(admin, ns, `rides-opb-${i}`)
    // The StatefulSet controller made OpA's pod; the kubelet's part, ready, is the test's. The controller then counts it ready.
    await waitFor('the OpA pod the StatefulSet controller made', async () => (await listPods(admin, ns, 'app.kubernetes.io/instance=rides,app.kubernetes.io/component=opa'))[0])
    await markPodReady(admin, ns, 'rides-opa-0')
    await waitFor('the pipeline Running', async () => (await getResource(ns, 'rides')).status?.phase === 'Running')

    const snapshot = async () => {
      const pods = await listPods(admin, ns, 'app.kubernetes.io/instance=rides')
      const sts = await admin.get<V1StatefulSet>(objectPath('apps/v1', 'statefulsets', ns, 'rides-opa'))
      const claims = await admin.get<{ items: V1PersistentVolumeClaim[] }>(objectPath('v1', 'persistentvolumeclaims', ns))
      return new Map<string, string>([
        ...pods.map((p) => [`pod/${p.metadata?.name}`, `${p.metadata?.uid}@${p.metadata?.resourceVersion}`] as [string, string]),
        [`sts/rides-opa`, `${sts.metadata?.uid}@${sts.metadata?.resourceVersion}`],
        ...claims.items.map((c) => [`pvc/${c.metadata?.name}`, `${c.metadata?.uid}@${c.metadata?.resourceVersion}`] as [string, string]),
      ])
    }
    const before = await snapshot()
    const victim = (await admin.get<V1Pod>(objectPath('v1', 'pods', ns, 'rides-opb-1'))).metadata?.uid

    // The replacement's worker: a real OpB process for shard 1 on the real broker, reached at the pod IP the test writes.
    const t = `${run}-rides`
    const dataDir = mkdtempSync(join(tmpdir(), 'ridepulse-op-worker-'))
    const worker = spawn(process.execPath, [join(repoRoot, 'worker', 'dist', 'worker.mjs')], {
      env: {
        PATH: process.env.PATH, ROLE: 'opb', SHARD: '1', SHARDS: '3', ORDERS_PARTITIONS: '3', PIPELINE: 'rides', DATA_DIR: dataDir, KAFKA_BROKERS: inject('kafkaBrokers'),
        TOPIC_ORDERS: `${t}.orders`, TOPIC_ENRICHED: `${t}.enriched`, TOPIC_OUTPUT: `${t}.output`, TOPIC_LATE: `${t}.late`, TOPIC_DLQ: `${t}.dlq`, TOPIC_CHANGELOG: `${t}.changelog`, TOPIC_SNAPSHOTS: `${t}.snapshots`,
        HTTP_HOST: WORKER_IP, HTTP_PORT: String(WORKER_PORT), LOG_LEVEL: 'warn',
      },
      stdio: 'ignore',
    })
    onTestFinished(() => {
      worker.kill('SIGKILL')
      rmSync(dataDir, { recursive: true, force: true })
    })
    await waitFor('the worker ready', async () => (await fetch(`http://${WORKER_IP}:${WORKER_PORT}/readyz`)).ok, 30_000)

    // What a Chaos Mesh pod-kill does.
    await admin.delete(objectPath('v1', 'pods', ns, 'rides-opb-1'), { gracePeriodSeconds: 0 })
    const replacement = await waitFor('a new rides-opb-1', async () => {
      const p = await admin.get<V1Pod>(objectPath('v1', 'pods', ns, 'rides-opb-1')).catch(() => undefined)
      return p && p.metadata?.uid !== victim ? p : undefined
    })
    expect(replacement.spec?.volumes?.[0]?.persistentVolumeClaim?.claimName).toBe('data-rides-opb-1')
    const recovering = await waitFor('status Recovering', async () => {
      const r = await getResource(ns, 'rides')
      return r.status?.phase === 'Recovering' ? r.status : undefined
    })
    expect(recovering.conditions.find((c) => c.type === 'Recovering')).toMatchObject({ status: 'True' })
    await markPodReady(admin, ns, 'rides-opb-1', WORKER_IP)
    const done = await waitFor('the recovery recorded', async () => {
      const r = await getResource(ns, 'rides')
      return r.status?.phase === 'Running' && r.status.recoveries === 1 ? r.status : undefined
    })
    const shard = done.shards?.find((s) => s.shard === 1)
    expect(shard).toMatchObject({ recoveries: 1, ready: true, podUid: replacement.metadata?.uid })
    expect(shard?.lastRecovery).toMatchObject({ reason: 'PodDeleted', snapshotKind: 'none', replayedRecords: 0 })
    // Read from the worker's own /status: its recovery (an empty shard: no snapshot yet, nothing to replay).
    expect(shard?.lastRecovery?.workerTimeToRecoverMs).toBeGreaterThan(0)
    expect(shard?.lastRecovery?.statusError).toBeUndefined()
    expect(shard?.lastRecovery?.timeToRecoverMs).toBeGreaterThanOrEqual(0)
    expect(Date.parse(shard?.lastRecovery?.podRecreatedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(shard?.lastRecovery?.detectedAt ?? ''))
    expect(done.lastTimeToRecover).toMatch(/^\d+(ms|\.\ds)$/)
    expect(done.shards?.filter((s) => s.shard !== 1).every((s) => s.recoveries === 0)).toBe(true)
    // Running, its lag is read from its /status into the resource (every LAG_POLL_MS, 1 s here); the shards whose pods answer nothing have none.
    const lag = await waitFor('shard 1\'s lag in the status', async () => (await getResource(ns, 'rides')).status?.shards?.find((s) => s.shard === 1)?.lag, 15_000)
    expect(lag).toMatchObject({ records: 0, inputSeconds: 0, lateEventsPerSecond: 0 })
    expect(Date.now() - Date.parse(lag.observedAt)).toBeLessThan(15_000)
    expect((await getResource(ns, 'rides')).status?.shards?.find((s) => s.shard === 0)?.lag).toBeUndefined()

    // Nothing else was touched: same uid and resourceVersion for OpA, the other shards and every claim.
    const after = await snapshot()
    for (const [k, v] of before) if (k !== 'pod/rides-opb-1') expect(after.get(k), k).toBe(v)
    const reasons = (await eventsOf(ns)).map((e) => e.reason)
    expect(reasons).toEqual(expect.arrayContaining(['ShardFailed', 'PodRecreated', 'ShardRecovered']))
  })

  it('rolls a spec change through the OpB pods one at a time, each waiting until ready', async () => {
    const selector = 'app.kubernetes.io/instance=rides,app.kubernetes.io/component=opb'
    const hashes = new Set((await listPods(admin, ns, selector)).map((p) => p.metadata?.annotations?.['ridepulse.io/spec-hash']))
    expect(hashes.size).toBe(1)
    await admin.mergePatch(resourcePath(ns, 'rides'), { spec: { commitIntervalMs: 50 } })
    const order: string[] = []
    let mostDown = 0
    // The kubelet's part: each pod that shows up not ready becomes ready.
    await waitFor('every pod on the new spec and ready', async () => {
      const pods = await listPods(admin, ns, selector)
      const down = 3 - pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length
      mostDown = Math.max(mostDown, down)
      for (const p of pods) {
        if (!p.status?.conditions?.some((c) => c.type === 'Ready')) {
          order.push(p.metadata!.name!)
          await markPodReady(admin, ns, p.metadata!.name!)
        }
      }
      return pods.length === 3 && pods.every((p) => !hashes.has(p.metadata?.annotations?.['ridepulse.io/spec-hash'])) && down === 0
    }, 30_000, 50)
    expect(order).toEqual(['rides-opb-0', 'rides-opb-1', 'rides-opb-2'])
    expect(mostDown).toBe(1)
    const r = await waitFor('the pipeline settled', async () => {
      // The change rolled OpA too: its StatefulSet controller replaced the pod, which the kubelet's part makes ready.
      for (const p of await listPods(admin, ns, 'app.kubernetes.io/instance=rides,app.kubernetes.io/component=opa')) {
        if (!p.metadata?.deletionTimestamp && !p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) await markPodReady(admin, ns, p.metadata!.name!)
      }
      const x = await getResource(ns, 'rides')
      return x.status?.phase === 'Running' && x.status.observedGeneration === x.metadata?.generation ? x : undefined
    })
    expect(r.status?.recoveries).toBe(1) // a roll is not a recovery
    const env = (await listPods(admin, ns, selector))[0]?.spec?.containers[0]?.env?.find((e) => e.name === 'COMMIT_INTERVAL_MS')
    expect(env?.value).toBe('50')
  })

  it('a bad image: the roll stops at the shard it broke, which past its deadline is Degraded in the pod\'s words; the revert replaces that pod at once', async () => {
    const selector = 'app.kubernetes.io/instance=badimg,app.kubernetes.io/component=opb'
    await applyYaml(admin, JSON.stringify(pipeline('badimg', ns, { opb: { shards: 2 }, recovery: { deadlineSeconds: 10 } })), ns)
    const readyAll = async () => {
      for (const p of await listPods(admin, ns, selector)) if (!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) await markPodReady(admin, ns, p.metadata!.name!)
    }
    // (Its OpA has no StatefulSet controller here: the shards are what counts.)
    await waitFor('both shards of badimg ready', async () => (await readyAll(), (await getResource(ns, 'badimg')).status?.readyShards === 2), 30_000)
    const goodHash = (await listPods(admin, ns, selector))[0]?.metadata?.annotations?.['ridepulse.io/spec-hash']

    // The new image crashes at start: the kubelet's part, a crash loop with the worker's last words.
    await admin.mergePatch(resourcePath(ns, 'badimg'), { spec: { opb: { image: 'ridepulse/worker:broken' } } })
    const broken = await waitFor('shard 0 on the bad image', async () => {
      const p = (await listPods(admin, ns, selector)).find((x) => x.metadata?.name === 'badimg-opb-0')
      return p && p.metadata?.annotations?.['ridepulse.io/spec-hash'] !== goodHash ? p : undefined
    }, 20_000)
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
    const lastWords = `${JSON.stringify({ level: 30, msg: 'starting' })}\n${JSON.stringify({ level: 50, msg: 'cannot use the Kafka cluster: the broker refused the SASL credentials', reason: 'SaslAuthenticationFailed' })}\n`
    await admin.mergePatch(`${objectPath('v1', 'pods', ns, 'badimg-opb-0')}/status`, {
      status: {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: now }],
        containerStatuses: [{
          name: 'opb', ready: false, restartCount: 3, image: 'ridepulse/worker:broken', imageID: '', started: false,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=opb pod=badimg-opb-0' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', message: lastWords, startedAt: now, finishedAt: now } },
        }],
      },
    })
    const degraded = await waitFor('Degraded: shard 0 stalled', async () => {
      const c = (await getResource(ns, 'badimg')).status?.conditions.find((x) => x.type === 'Degraded')
      return c?.status === 'True' && c.reason === 'ShardStalled' ? c : undefined
    }, 30_000)
    expect(degraded.message).toMatch(/^shard 0 not ready past its deadline .*container opb: CrashLoopBackOff .*last exit code 1 \(Error\): cannot use the Kafka cluster: the broker refused the SASL credentials \[SaslAuthenticationFailed\]/)
    const stalled = await getResource(ns, 'badimg')
    expect(stalled.status?.phase).toBe('Degraded')
    expect(stalled.status?.shards?.[0]?.problem).toContain('CrashLoopBackOff')
    expect(stalled.status?.shards?.[0]?.stalledSince).toBeDefined()
    expect((await eventsOf(ns)).some((e) => e.reason === 'ShardStalled' && e.type === 'Warning' && e.message.includes('CrashLoopBackOff'))).toBe(true)
    // The roll went no further: shard 1 still runs the good image.
    expect((await listPods(admin, ns, selector)).find((x) => x.metadata?.name === 'badimg-opb-1')?.metadata?.annotations?.['ridepulse.io/spec-hash']).toBe(goodHash)

    // The revert: the broken pod is replaced at once, though it never became ready.
    await admin.mergePatch(resourcePath(ns, 'badimg'), { spec: { opb: { image: null } } })
    const fixed = await waitFor('shard 0 back on the good image', async () => {
      const p = (await listPods(admin, ns, selector)).find((x) => x.metadata?.name === 'badimg-opb-0')
      return p && p.metadata?.uid !== broken.metadata?.uid && p.metadata?.annotations?.['ridepulse.io/spec-hash'] === goodHash ? p : undefined
    }, 20_000)
    expect(fixed.spec?.containers[0]?.image).toBe('ridepulse/worker:0.1.0')
    const settled = await waitFor('both shards of badimg ready again', async () => {
      await readyAll()
      const r = await getResource(ns, 'badimg')
      return r.status?.readyShards === 2 && r.status.conditions.find((c) => c.type === 'Degraded')?.status === 'False' ? r : undefined
    }, 30_000)
    expect(settled.status?.conditions.find((c) => c.type === 'Degraded')?.status).toBe('False')
    expect(settled.status?.shards?.[0]?.stalledSince).toBeUndefined()
    expect((await eventsOf(ns)).some((e) => e.reason === 'ShardRolling' && e.message.includes('it was not ready: container opb: CrashLoopBackOff'))).toBe(true)
    await admin.delete(resourcePath(ns, 'badimg'))
  })

  it('stops every OpA instance before it changes their count, so no orders partition has two owners', async () => {
    const stsPath = objectPath('apps/v1', 'statefulsets', ns, 'rides-opa')
    const opaPod = objectPath('v1', 'pods', ns, 'rides-opa-0')
    // The running instance, bound to a node, so that its deletion waits for a kubelet that never comes.
    const node = `opa-node-${run}`
    await admin.request('POST', objectPath('v1', 'nodes', undefined), { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node } } })
    await admin.request('POST', `${opaPod}/binding`, { body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'rides-opa-0' }, target: { apiVersion: 'v1', kind: 'Node', name: node } } })
    await admin.mergePatch(resourcePath(ns, 'rides'), { spec: { opa: { replicas: 2 } } })
    const held = await waitFor('OpA held at zero', async () => {
      const x = await admin.get<V1StatefulSet>(stsPath)
      return x.spec?.replicas === 0 ? x : undefined
    })
    expect(held.metadata?.annotations?.['ridepulse.io/paused-for-instances']).toBe('2')
    await new Promise((r) => setTimeout(r, 1500))
    expect((await admin.get<V1StatefulSet>(stsPath)).spec?.replicas, 'still held while the old instance runs').toBe(0)
    // The StatefulSet controller asked it to stop; the kubelet's confirmation is the test's.
    await waitFor('the old instance asked to stop', async () => (await admin.get<V1Pod>(opaPod)).metadata?.deletionTimestamp)
    await admin.delete(opaPod, { gracePeriodSeconds: 0 })
    const resumed = await waitFor('OpA at two instances', async () => {
      const x = await admin.get<V1StatefulSet>(stsPath)
      return x.spec?.replicas === 2 ? x : undefined
    })
    expect(resumed.metadata?.annotations?.['ridepulse.io/paused-for-instances']).toBeUndefined()
    expect(resumed.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'OPA_INSTANCES')?.value).toBe('2')
    expect((await eventsOf(ns)).map((e) => e.reason)).toContain('OpaPaused')
  })

  it('recreates at once a shard whose node is deleted, without waiting for the NotReady timeout', async () => {
    const res = pipeline('gone', ns, { opb: { shards: 1 }, recovery: { nodeLostTimeoutSeconds: 3600 } })
    await applyYaml(admin, JSON.stringify(res), ns)
    const first = await waitFor('the pod of gone', async () => (await listPods(admin, ns, 'app.kubernetes.io/instance=gone,app.kubernetes.io/component=opb'))[0])
    const node = `gone-node-${run}`
    await admin.request('POST', objectPath('v1', 'nodes', undefined), { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node } } })
    await admin.request('POST', `${objectPath('v1', 'pods', ns, 'gone-opb-0')}/binding`, {
      body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'gone-opb-0' }, target: { apiVersion: 'v1', kind: 'Node', name: node } },
    })
    await markPodReady(admin, ns, 'gone-opb-0')
    await waitFor('gone Running', async () => (await getResource(ns, 'gone')).status?.readyShards === 1)
    // The node is removed (kubectl delete node, or an autoscaler); no pod GC runs here, so the pod stays bound to it.
    await admin.delete(objectPath('v1', 'nodes', undefined, node))
    const replacement = await waitFor('a replacement pod', async () => {
      const p = (await listPods(admin, ns, 'app.kubernetes.io/instance=gone,app.kubernetes.io/component=opb'))[0]
      return p && p.metadata?.uid !== first.metadata?.uid ? p : undefined
    }, 15_000)
    expect(replacement.spec?.nodeName).toBeUndefined()
    const r = await getResource(ns, 'gone')
    expect(r.status?.shards?.[0]?.pendingRecovery?.reason).toBe('NodeLost')
  })

  it('with standby shards, makes each shard a second pod on a claim of its own, both told their slot and their address, and reports the second in status.standbys', async () => {
    const res = pipeline('pair', ns, { opb: { shards: 2, standby: { enabled: true } } })
    await applyYaml(admin, JSON.stringify(res), ns)
    const pods = await waitFor('four pods', async () => {
      const list = await listPods(admin, ns, 'app.kubernetes.io/instance=pair,app.kubernetes.io/component=opb')
      return list.length === 4 ? list : undefined
    })
    expect(pods.map((p) => p.metadata?.name).sort()).toEqual(['pair-opb-0', 'pair-opb-0-b', 'pair-opb-1', 'pair-opb-1-b'])
    const b = pods.find((p) => p.metadata?.name === 'pair-opb-1-b')!
    expect(b.metadata?.labels).toMatchObject({ 'ridepulse.io/shard': '1', 'ridepulse.io/slot': '1' })
    expect(b.spec?.volumes?.[0]?.persistentVolumeClaim?.claimName).toBe('data-pair-opb-1-b')
    const env = b.spec?.containers[0]?.env ?? []
    expect(env).toContainEqual({ name: 'STANDBY_SLOT', value: '1' })
    expect(env).toContainEqual({ name: 'ADVERTISED_HOST', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } })
    const claims = await admin.get<{ items: V1PersistentVolumeClaim[] }>(objectPath('v1', 'persistentvolumeclaims', ns), { labelSelector: 'app.kubernetes.io/instance=pair' })
    expect(claims.items.map((c) => c.metadata?.name).sort()).toEqual(['data-pair-opb-0', 'data-pair-opb-0-b', 'data-pair-opb-1', 'data-pair-opb-1-b'])
    const st = await waitFor('both slots in the status', async () => {
      const r = (await getResource(ns, 'pair')).status
      return r?.shards?.length === 2 && r.standbys?.length === 2 ? r : undefined
    })
    expect(st.standbys!.map((s) => ({ shard: s.shard, slot: s.slot, pod: s.pod, claim: s.claim }))).toEqual([
      { shard: 0, slot: 1, pod: 'pair-opb-0-b', claim: 'data-pair-opb-0-b' },
      { shard: 1, slot: 1, pod: 'pair-opb-1-b', claim: 'data-pair-opb-1-b' },
    ])
    expect(st.shards!.map((s) => s.slot)).toEqual([0, 0])
    // A deleted second pod is recreated on its own claim, the first left alone.
    const first = pods.find((p) => p.metadata?.name === 'pair-opb-1')!
    await admin.delete(objectPath('v1', 'pods', ns, 'pair-opb-1-b'))
    await waitFor('pair-opb-1-b recreated', async () => {
      const list = await listPods(admin, ns, 'app.kubernetes.io/instance=pair,app.kubernetes.io/component=opb')
      const again = list.find((p) => p.metadata?.name === 'pair-opb-1-b')
      return again && again.metadata?.uid !== b.metadata?.uid ? again : undefined
    })
    expect((await listPods(admin, ns, 'app.kubernetes.io/instance=pair,app.kubernetes.io/component=opb')).find((p) => p.metadata?.name === 'pair-opb-1')?.metadata?.uid).toBe(first.metadata?.uid)
  })

  it('replaces a claim whose volume is pinned to a node that is gone, after lostClaimTimeoutSeconds, with a new empty claim', async () => {
    const res = pipeline('pinned', ns, { opb: { shards: 1 }, recovery: { lostClaimTimeoutSeconds: 3 } })
    await applyYaml(admin, JSON.stringify(res), ns)
    const claimPath = objectPath('v1', 'persistentvolumeclaims', ns, 'data-pinned-opb-0')
    const old = await waitFor('the claim of pinned', async () => admin.get<V1PersistentVolumeClaim>(claimPath).catch(() => undefined))
    // The claim is bound, as a provisioner of local disks would bind it, to a
    // volume on a node that no longer exists (its disk went with it).
    const pv = `pv-pinned-${run}`
    await admin.request('POST', objectPath('v1', 'persistentvolumes', undefined), {
      body: {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: pv },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Retain',
          hostPath: { path: `/var/lib/local/${pv}` },
          claimRef: { namespace: ns, name: 'data-pinned-opb-0', uid: old.metadata?.uid },
          nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [`gone-host-${run}`] }] }] } },
        },
      },
    })
    onTestFinished(async () => {
      await admin.delete(objectPath('v1', 'persistentvolumes', undefined, pv)).catch(() => undefined)
    })
    await admin.mergePatch(claimPath, { spec: { volumeName: pv } })
    await admin.mergePatch(`${claimPath}/status`, { status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } } })
    const lostAt = Date.now()
    const fresh = await waitFor('a new claim', async () => {
      const c = await admin.get<V1PersistentVolumeClaim>(claimPath).catch(() => undefined)
      return c && c.metadata?.uid !== old.metadata?.uid ? c : undefined
    }, 30_000)
    // Not before the timeout, and the new claim is empty: no volume yet.
    expect(Date.now() - lostAt).toBeGreaterThanOrEqual(3000)
    expect(fresh.spec?.volumeName).toBeUndefined()
    const pod = await waitFor('the pod on the new claim', async () => (await listPods(admin, ns, 'app.kubernetes.io/instance=pinned,app.kubernetes.io/component=opb'))[0])
    expect(pod.spec?.volumes?.[0]?.persistentVolumeClaim?.claimName).toBe('data-pinned-opb-0')
    const st = await waitFor('the replacement in the status', async () => {
      const s = (await getResource(ns, 'pinned')).status?.shards?.[0]
      return s?.claimReplacements === 1 ? s : undefined
    })
    expect(st.pendingRecovery?.reason).toBe('ClaimLost')
    expect(st.claimLostSince).toBeUndefined()
    const events = (await eventsOf(ns)).filter((e) => /claim data-pinned-opb-0/.test(e.message))
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['ClaimLost', 'ClaimReplaced']))
    expect(events.find((e) => e.reason === 'ClaimLost')?.message).toMatch(new RegExp(`pinned to a node that cannot run it: node gone-host-${run} no longer exists`))
  })

  it('recreates a shard whose node stays NotReady past the timeout', async () => {
    const res = pipeline('nodes', ns, { opb: { shards: 1 }, recovery: { nodeLostTimeoutSeconds: 5 } })
    await applyYaml(admin, JSON.stringify(res), ns)
    const first = await waitFor('the pod of nodes', async () => (await listPods(admin, ns, 'app.kubernetes.io/instance=nodes,app.kubernetes.io/component=opb'))[0])
    const node = `node-${run}`
    await admin.request('POST', objectPath('v1', 'nodes', undefined), { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node } } })
    await admin.request('POST', `${objectPath('v1', 'pods', ns, 'nodes-opb-0')}/binding`, {
      body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'nodes-opb-0' }, target: { apiVersion: 'v1', kind: 'Node', name: node } },
    })
    await markPodReady(admin, ns, 'nodes-opb-0')
    await waitFor('nodes Running', async () => (await getResource(ns, 'nodes')).status?.phase === 'Running' || (await getResource(ns, 'nodes')).status?.readyShards === 1)
    // The node stops reporting: its Ready condition has been Unknown for a minute.
    const since = new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z')
    await admin.mergePatch(`${objectPath('v1', 'nodes', undefined, node)}/status`, {
      status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', lastTransitionTime: since, lastHeartbeatTime: since }] },
    })
    const replacement = await waitFor('a replacement pod', async () => {
      const p = (await listPods(admin, ns, 'app.kubernetes.io/instance=nodes,app.kubernetes.io/component=opb'))[0]
      return p && p.metadata?.uid !== first.metadata?.uid ? p : undefined
    }, 20_000).catch(async (err: unknown) => {
      // What the next failure needs: the pods as they stand and what the operator said.
      const pods = await admin.get<{ items: V1Pod[] }>(objectPath('v1', 'pods', ns))
      process.stdout.write(`pods: ${JSON.stringify(pods.items.map((p) => ({ name: p.metadata?.name, uid: p.metadata?.uid, node: p.spec?.nodeName, deleting: p.metadata?.deletionTimestamp, finalizers: p.metadata?.finalizers })))}\n`)
      process.stdout.write(`${operators.map((o) => o.logs()).join('\n').split('\n').filter((l) => /"level":(40|50)/.test(l)).slice(-10).join('\n')}\n`)
      throw err
    })
    expect(replacement.spec?.nodeName).toBeUndefined()
    expect(replacement.spec?.volumes?.[0]?.persistentVolumeClaim?.claimName).toBe('data-nodes-opb-0')
    const r = await getResource(ns, 'nodes')
    expect(r.status?.shards?.[0]?.pendingRecovery?.reason).toBe('NodeLost')

    // Scheduled onto another node whose kubelet does not start it. (The node
    // exists: a pod bound to a node that does not is lost at once, as tested above.)
    const other = `other-${node}`
    await admin.request('POST', objectPath('v1', 'nodes', undefined), { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: other } } })
    await admin.request('POST', `${objectPath('v1', 'pods', ns, 'nodes-opb-0')}/binding`, {
      body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'nodes-opb-0' }, target: { apiVersion: 'v1', kind: 'Node', name: other } },
    })
    const annotations = async () => (await admin.get<V1Pod>(objectPath('v1', 'pods', ns, 'nodes-opb-0'))).metadata?.annotations ?? {}
    // No word from its kubelet: no nudge, however long it waits.
    await new Promise((r) => setTimeout(r, NUDGE_AFTER_MS + 2000))
    expect(await annotations()).not.toHaveProperty(ANNOTATION_NUDGED_AT)
    // Its kubelet reports the claim forbidden for its node, as the Node
    // authorizer's lag makes it (a kubelet's FailedMount event): the operator
    // nudges it with an annotation, through the chart's RBAC.
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
    await admin.request('POST', objectPath('v1', 'events', ns), {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `nodes-opb-0.${run}` },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'nodes-opb-0', namespace: ns, uid: replacement.metadata?.uid },
        reason: 'FailedMount',
        type: 'Warning',
        message: `Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process volumes=[data]: error processing PVC ${ns}/data-nodes-opb-0: failed to fetch PVC from API server: persistentvolumeclaims "data-nodes-opb-0" is forbidden: User "system:node:${other}" cannot get resource "persistentvolumeclaims" in API group "" in the namespace "${ns}": no relationship found between node '${other}' and this object`,
        source: { component: 'kubelet', host: other },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    })
    const nudged = await waitFor('the kubelet nudged', async () => {
      const a = await annotations()
      return a[ANNOTATION_NUDGED_AT] ? { at: Date.parse(a[ANNOTATION_NUDGED_AT]), count: a[ANNOTATION_NUDGES] } : undefined
    }, 10_000)
    expect(nudged.count).toBe('1')
    // One report, one nudge: the next needs the kubelet to report the refusal again.
    await new Promise((r) => setTimeout(r, NUDGE_AFTER_MS + 2000))
    expect((await annotations())[ANNOTATION_NUDGES]).toBe('1')
  })

  it('releases the claims on delete unless deleteClaim is set', async () => {
    const keep = pipeline('keep', ns)
    const drop = pipeline('drop', ns, { opb: { shards: 1, storage: { deleteClaim: true } } })
    for (const r of [keep, drop]) await applyYaml(admin, JSON.stringify(r), ns)
    await waitFor('claims of both', async () => {
      const c = await admin.get<{ items: V1PersistentVolumeClaim[] }>(objectPath('v1', 'persistentvolumeclaims', ns))
      const names = c.items.map((x) => x.metadata?.name)
      return names.includes('data-keep-opb-2') && names.includes('data-drop-opb-0')
    })
    for (const n of ['keep', 'drop']) await admin.delete(resourcePath(ns, n))
    await waitFor('both resources gone', async () => {
      const list = await admin.get<{ items: Resource[] }>(resourcePath(ns))
      return !list.items.some((r) => ['keep', 'drop'].includes(r.metadata?.name ?? ''))
    })
    const claims = await admin.get<{ items: V1PersistentVolumeClaim[] }>(objectPath('v1', 'persistentvolumeclaims', ns))
    const kept = claims.items.filter((c) => c.metadata?.name?.startsWith('data-keep-'))
    expect(kept).toHaveLength(3)
    expect(kept.every((c) => !c.metadata?.ownerReferences?.length)).toBe(true)
    expect(claims.items.some((c) => c.metadata?.name === 'data-drop-opb-0' && !c.metadata.deletionTimestamp)).toBe(false)
    // The controllers' part: PVC protection guards every claim, and the garbage collector takes the pods and
    // the StatefulSet the resources owned; a deleted claim then goes once no pod uses it.
    expect(kept.every((c) => c.metadata?.finalizers?.includes('kubernetes.io/pvc-protection'))).toBe(true)
    await waitFor('the owned pods and StatefulSets collected, the deleted claim gone', async () => {
      const pods = await listPods(admin, ns, 'app.kubernetes.io/instance in (keep,drop)')
      const sts = await admin.get<{ items: V1StatefulSet[] }>(objectPath('apps/v1', 'statefulsets', ns))
      const left = await admin.get<{ items: V1PersistentVolumeClaim[] }>(objectPath('v1', 'persistentvolumeclaims', ns))
      return pods.length === 0 && !sts.items.some((x) => ['keep-opa', 'drop-opa'].includes(x.metadata?.name ?? '')) && !left.items.some((c) => c.metadata?.name === 'data-drop-opb-0')
    }, 30_000)
  })
})

describe('operating a pipeline: pause, restart and disruption', () => {
  const ns = `ops-${run}`
  const sel = (name: string) => `app.kubernetes.io/instance=${name},app.kubernetes.io/component=opb`
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  const annotate = (name: string, annotations: Record<string, string | null>) => admin.mergePatch(resourcePath(ns, name), { metadata: { annotations } })
  const isReady = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
  /** The kubelet's part: every OpB pod of `name` that is not ready (and not going) becomes ready, bound to `node` when given. */
  const readyAll = async (name: string, shards: number, node?: string) =>
    waitFor(`${name}: ${shards} shards ready`, async () => {
      for (const p of await listPods(admin, ns, sel(name))) {
        if (p.metadata?.deletionTimestamp || isReady(p)) continue
        if (node && !p.spec?.nodeName) {
          await admin.request('POST', `${objectPath('v1', 'pods', ns, p.metadata!.name!)}/binding`, { body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: p.metadata!.name! }, target: { apiVersion: 'v1', kind: 'Node', name: node } } })
        }
        await markPodReady(admin, ns, p.metadata!.name!)
      }
      return (await getResource(ns, name)).status?.readyShards === shards
    }, 30_000, 100)

  it('pauses reconciliation by annotation: a deleted pod stays gone, a spec change waits, the status says why; resumed, it all happens', async () => {
    await ensureNamespace(admin, ns)
    await applyYaml(admin, JSON.stringify(pipeline('held', ns, { opb: { shards: 2 } })), ns)
    await readyAll('held', 2)
    await annotate('held', { 'ridepulse.io/pause-reconciliation': 'true' })
    const paused = await waitFor('phase Paused', async () => {
      const r = await getResource(ns, 'held')
      return r.status?.phase === 'Paused' ? r : undefined
    })
    expect(paused.status?.conditions.find((c) => c.type === 'ReconciliationPaused')).toMatchObject({ status: 'True', reason: 'PausedByAnnotation' })
    expect(paused.status?.shardsReady).toBe('2/2')

    await admin.delete(objectPath('v1', 'pods', ns, 'held-opb-0'))
    await admin.mergePatch(resourcePath(ns, 'held'), { spec: { commitIntervalMs: 60 } })
    await sleep(3000)
    const pods = await listPods(admin, ns, sel('held'))
    expect(pods.map((p) => p.metadata?.name)).toEqual(['held-opb-1'])
    expect(pods[0]?.spec?.containers[0]?.env?.find((e) => e.name === 'COMMIT_INTERVAL_MS')?.value).toBe('100')
    expect((await eventsOf(ns)).filter((e) => e.reason === 'ReconciliationPaused')).toHaveLength(1)

    await annotate('held', { 'ridepulse.io/pause-reconciliation': null })
    await waitFor('held-opb-0 recreated', async () => (await listPods(admin, ns, sel('held'))).some((p) => p.metadata?.name === 'held-opb-0'))
    await readyAll('held', 2)
    const r = await waitFor('resumed and rolled to the new spec', async () => {
      await readyAll('held', 2)
      // The change rolled OpA too: its StatefulSet controller replaced the pod, which the kubelet's part makes ready.
      for (const p of await listPods(admin, ns, 'app.kubernetes.io/instance=held,app.kubernetes.io/component=opa')) {
        if (!p.metadata?.deletionTimestamp && !isReady(p)) await markPodReady(admin, ns, p.metadata!.name!)
      }
      const x = await getResource(ns, 'held')
      const envs = (await listPods(admin, ns, sel('held'))).map((p) => p.spec?.containers[0]?.env?.find((e) => e.name === 'COMMIT_INTERVAL_MS')?.value)
      return x.status?.phase === 'Running' && envs.length === 2 && envs.every((v) => v === '60') ? x : undefined
    }, 30_000)
    expect(r.status?.conditions.some((c) => c.type === 'ReconciliationPaused')).toBe(false)
    expect(r.status?.shards?.[0]?.pendingRecovery).toBeUndefined()
  })

  it('restarts every pod on request: OpB one shard at a time, each waiting until ready, and OpA through its StatefulSet; no recovery counted', async () => {
    await ensureNamespace(admin, ns)
    await applyYaml(admin, JSON.stringify(pipeline('again', ns)), ns)
    await readyAll('again', 3)
    const before = new Set((await listPods(admin, ns, sel('again'))).map((p) => p.metadata?.uid))
    const at = '2026-12-04T10:00:00Z'
    await annotate('again', { 'ridepulse.io/restart': at })
    const order: string[] = []
    let mostDown = 0
    await waitFor('every OpB pod replaced and ready', async () => {
      const pods = await listPods(admin, ns, sel('again'))
      mostDown = Math.max(mostDown, 3 - pods.filter(isReady).length)
      for (const p of pods) {
        if (!p.metadata?.deletionTimestamp && !isReady(p)) {
          order.push(p.metadata!.name!)
          await markPodReady(admin, ns, p.metadata!.name!)
        }
      }
      return pods.length === 3 && pods.every((p) => !before.has(p.metadata?.uid) && isReady(p))
    }, 30_000, 50)
    expect(order).toEqual(['again-opb-0', 'again-opb-1', 'again-opb-2'])
    expect(mostDown).toBe(1)
    for (const p of await listPods(admin, ns, sel('again'))) expect(p.metadata?.annotations?.['ridepulse.io/restarted-at']).toBe(at)
    const sts = await admin.get<V1StatefulSet>(objectPath('apps/v1', 'statefulsets', ns, 'again-opa'))
    expect(sts.spec?.template.metadata?.annotations?.['ridepulse.io/restarted-at']).toBe(at)
    const r = await waitFor('settled', async () => {
      const x = await getResource(ns, 'again')
      return x.status?.readyShards === 3 && x.status.shards?.every((s) => s.phase === 'Running') ? x : undefined
    })
    expect(r.status?.recoveries).toBe(0)
    // The same value again asks for nothing.
    await annotate('again', { 'ridepulse.io/restart': at })
    await sleep(1500)
    expect((await listPods(admin, ns, sel('again'))).every((p) => isReady(p) && !p.metadata?.deletionTimestamp)).toBe(true)
  })

  it('a pod template reaches the pods: the API server takes every field on the OpA StatefulSet and the OpB pods', async () => {
    await ensureNamespace(admin, ns)
    // What the template names must exist for the API server's admission: the priority class and the service account.
    await admin.request('POST', objectPath('scheduling.k8s.io/v1', 'priorityclasses', undefined), { body: { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'stream-high' }, value: 1000 } }).catch((err: unknown) => {
      if (!(err instanceof ApiError && err.code === 409)) throw err
    })
    await admin.request('POST', objectPath('v1', 'serviceaccounts', ns), { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'pipeline' } } })
    await applyYaml(admin, JSON.stringify(pipeline('dressed', ns, { opa: { template: EVERY_TEMPLATE_FIELD }, opb: { shards: 2, template: EVERY_TEMPLATE_FIELD } })), ns)
    const pods = await waitFor('both OpB pods', async () => {
      const p = await listPods(admin, ns, sel('dressed'))
      return p.length === 2 ? p : undefined
    })
    const sts = await waitFor('the OpA StatefulSet', async () => admin.get<V1StatefulSet>(objectPath('apps/v1', 'statefulsets', ns, 'dressed-opa')).catch(() => undefined))
    // Its controller made OpA's pod from the template: the API server's admission took it as well.
    const opaPod = await waitFor('the OpA pod', async () => (await listPods(admin, ns, 'app.kubernetes.io/instance=dressed,app.kubernetes.io/component=opa'))[0])
    for (const [meta, spec] of [...pods.map((p) => [p.metadata, p.spec] as const), [sts.spec?.template.metadata, sts.spec?.template.spec] as const, [opaPod.metadata, opaPod.spec] as const]) {
      expect(meta?.labels).toMatchObject({ team: 'dispatch', 'example.com/tier': 'stream', 'app.kubernetes.io/instance': 'dressed' })
      expect(meta?.annotations).toMatchObject({ 'example.com/owner': 'rides team' })
      expect(spec).toMatchObject({ serviceAccountName: 'pipeline', priorityClassName: 'stream-high', imagePullSecrets: [{ name: 'registry-pull' }], nodeSelector: { 'kubernetes.io/os': 'linux' } })
      expect(spec?.affinity).toMatchObject(EVERY_TEMPLATE_FIELD.pod.affinity)
      expect(spec?.tolerations).toEqual(expect.arrayContaining(EVERY_TEMPLATE_FIELD.pod.tolerations))
      expect(spec?.topologySpreadConstraints).toEqual(EVERY_TEMPLATE_FIELD.pod.topologySpreadConstraints)
      const c = spec!.containers[0]!
      expect(c.imagePullPolicy).toBe('Always')
      expect(c.env?.slice(-3)).toEqual(EVERY_TEMPLATE_FIELD.container.env)
      expect(c.envFrom).toEqual(EVERY_TEMPLATE_FIELD.container.envFrom)
    }
    expect(opaPod.spec?.priority).toBe(1000)
    const r = await getResource(ns, 'dressed')
    expect(r.status?.conditions.find((c) => c.type === 'Degraded')?.status).toBe('False')
  })

  it('a drain takes one shard at a time: the disruption budget refuses the second eviction while the first shard moves, and the move is no failure', async () => {
    await ensureNamespace(admin, ns)
    // Bound to a node, so that an evicted pod waits for its kubelet, as on a cluster.
    const node = `drain-node-${run}`
    await admin.request('POST', objectPath('v1', 'nodes', undefined), { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node } } })
    await applyYaml(admin, JSON.stringify(pipeline('drain', ns)), ns)
    await readyAll('drain', 3, node)
    const budgetPath = objectPath('policy/v1', 'poddisruptionbudgets', ns, 'drain-opb')
    const budget = await waitFor('the disruption controller allows one eviction', async () => {
      const b = await admin.get<{ spec: Record<string, unknown>; status?: { disruptionsAllowed?: number } }>(budgetPath)
      return b.status?.disruptionsAllowed === 1 ? b : undefined
    }, 30_000)
    expect(budget.spec).toMatchObject({ minAvailable: 2, unhealthyPodEvictionPolicy: 'AlwaysAllow', selector: { matchLabels: { 'app.kubernetes.io/instance': 'drain', 'app.kubernetes.io/component': 'opb' } } })
    const evict = (pod: string) => admin.request('POST', `${objectPath('v1', 'pods', ns, pod)}/eviction`, { body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: ns } } })

    await evict('drain-opb-0')
    const moving = await waitFor('shard 0 moving', async () => {
      const s = (await getResource(ns, 'drain')).status?.shards?.[0]
      return s?.pendingRecovery ? s : undefined
    })
    expect(moving.pendingRecovery).toMatchObject({ reason: 'Evicted', planned: true })
    const refused = await evict('drain-opb-1').then(() => undefined, (err: unknown) => err)
    expect(refused).toBeInstanceOf(ApiError)
    expect((refused as ApiError).code).toBe(429)
    expect((refused as ApiError).message).toMatch(/disruption budget/)

    // The kubelet's part: the evicted pod's container stops; the operator makes its replacement, which starts.
    await admin.delete(objectPath('v1', 'pods', ns, 'drain-opb-0'), { gracePeriodSeconds: 0 })
    const r = await waitFor('shard 0 moved and ready', async () => {
      await readyAll('drain', 3, node)
      const x = await getResource(ns, 'drain')
      return x.status?.shards?.[0]?.plannedMoves === 1 && !x.status.shards[0].pendingRecovery ? x : undefined
    }, 30_000)
    expect(r.status?.recoveries).toBe(0)
    expect(r.status?.shards?.[0]?.lastRecovery).toMatchObject({ reason: 'Evicted', planned: true })
    const events = (await eventsOf(ns)).filter((e) => e.message.startsWith('shard 0:') && ['ShardMoving', 'ShardMoved', 'ShardFailed'].includes(e.reason))
    expect(events.filter((e) => e.reason === 'ShardFailed' && e.message.includes('drain-opb'))).toEqual([])
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['ShardMoving', 'ShardMoved']))
    // With every shard ready again, the next one may go.
    await waitFor('one eviction allowed again', async () => (await admin.get<{ status?: { disruptionsAllowed?: number } }>(budgetPath)).status?.disruptionsAllowed === 1)
    await evict('drain-opb-1')
  })
})

describe('status writes', () => {
  it('never writes a status computed from an older resource over a newer one', async () => {
    const sns = `stale-${run}`
    await ensureNamespace(admin, sns)
    await applyYaml(admin, JSON.stringify({ ...pipeline('stale', sns), spec: { kafka: { bootstrapServers: ['127.0.0.1:1'] } } }), sns)
    const rest = SrcRest.load(inject('kubeconfig'))
    const writer = new ClusterWriter(rest, 'status-test', Date.now)
    const old = await rest.get<PipelineResource>(resourcePath(sns, 'stale'))
    // Someone changes the resource after the pass read it.
    await admin.mergePatch(resourcePath(sns, 'stale'), { metadata: { labels: { touched: 'yes' } } })
    const computed = { observedGeneration: 1, phase: 'Running' as const, shardsReady: '9/9', readyShards: 9, recoveries: 0, conditions: [] }
    expect(await writer.writeStatus(old, computed)).toBe('stale')
    expect((await getResource(sns, 'stale')).status?.shardsReady).not.toBe('9/9')
    // From the resource as it is now, the same write goes through (once no
    // status write of the operator's, which reconciles it too, came between).
    const attempts: string[] = []
    await waitFor('a write from a fresh copy', async () => {
      attempts.push(await writer.writeStatus(await rest.get<PipelineResource>(resourcePath(sns, 'stale')), computed))
      return attempts.at(-1) === 'written' || undefined
    }, 10_000)
    expect(attempts.at(-1)).toBe('written')
    await admin.delete(resourcePath(sns, 'stale'))
  })
})

describe('a shard whose action the API server refuses', () => {
  it('does not hold back the other shards\' status: a recovery beside it is recorded once, and the refusal is Degraded', async () => {
    const ns = `partial-${run}`
    await ensureNamespace(admin, ns)
    // An admission policy refuses shard 2's claim, and only it.
    const policy = `refuse-claim-${run}`
    await admin.request('POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies', {
      body: {
        apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: policy },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['persistentvolumeclaims'] }] },
          validations: [{ expression: `object.metadata.name != 'data-partial-opb-2' || namespaceObject.metadata.name != '${ns}'`, message: 'claims of shard 2 are refused by this test' }],
        },
      },
    })
    await admin.request('POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings', {
      body: { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: policy }, spec: { policyName: policy, validationActions: ['Deny'] } },
    })
    try {
      // A policy takes effect a moment after it is created: until a dry run of that claim is refused.
      await waitFor('the policy in force', async () => {
        const err = await admin.request('POST', objectPath('v1', 'persistentvolumeclaims', ns), {
          query: { dryRun: 'All' },
          body: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data-partial-opb-2' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
        }).then(() => undefined, (e: unknown) => e)
        return err instanceof ApiError && /refused by this test/.test(err.message)
      }, 20_000)
      const selector = 'app.kubernetes.io/instance=partial,app.kubernetes.io/component=opb'
      await applyYaml(admin, JSON.stringify(pipeline('partial', ns)), ns)
      const ready = async () => {
        for (const p of await listPods(admin, ns, selector)) if (!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) await markPodReady(admin, ns, p.metadata!.name!)
        return (await getResource(ns, 'partial')).status
      }
      const first = await waitFor('shards 0 and 1 ready, shard 2 refused', async () => {
        const st = await ready()
        const c = st?.conditions.find((x) => x.type === 'Degraded')
        return st?.readyShards === 2 && c?.status === 'True' ? { st, c } : undefined
      }, 30_000).catch(async (err: unknown) => {
        // What the next failure needs: the status as it stands, and what the operators said of this resource.
        process.stdout.write(`status: ${JSON.stringify((await getResource(ns, 'partial')).status)}\n${operators.map((o) => o.logs()).join('\n').split('\n').filter((l) => l.includes(ns)).slice(-15).join('\n')}\n`)
        throw err
      })
      expect(first.c.message).toMatch(/^opb: shard 2: .*claims of shard 2 are refused by this test/)
      expect(first.st.shards?.map((x) => x.ready)).toEqual([true, true, false])

      // Shard 0 fails and recovers while shard 2 is still refused, pass after pass.
      const before = (await listPods(admin, ns, selector)).find((p) => p.metadata?.name === 'partial-opb-0')!
      await admin.delete(objectPath('v1', 'pods', ns, 'partial-opb-0'))
      const recovered = await waitFor('shard 0 recovered', async () => {
        const p = (await listPods(admin, ns, selector)).find((x) => x.metadata?.name === 'partial-opb-0')
        if (p && p.metadata?.uid !== before.metadata?.uid) await ready()
        const st = (await getResource(ns, 'partial')).status
        return st?.shards?.[0]?.lastRecovery?.readyAt ? st : undefined
      }, 30_000)
      expect(recovered.shards?.[0]).toMatchObject({ recoveries: 1, ready: true, lastRecovery: { reason: 'PodDeleted' } })
      await new Promise((r) => setTimeout(r, 3000))
      const events = await eventsOf(ns)
      expect(events.filter((e) => e.reason === 'ShardRecovered').length).toBe(1)
      expect(events.filter((e) => e.reason === 'ShardFailed').length).toBe(1)
      expect((await getResource(ns, 'partial')).status?.recoveries).toBe(1)
    } finally {
      await admin.delete(`/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${policy}`).catch(() => undefined)
      await admin.delete(`/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${policy}`).catch(() => undefined)
    }
    // Without the policy, shard 2 gets its claim and pod, and Degraded clears. The policy's removal takes a
    // moment to reach admission; the operator then tries again on its failure backoff (at most a minute).
    await waitFor('the policy gone from admission', async () => {
      const err = await admin.request('POST', objectPath('v1', 'persistentvolumeclaims', ns), {
        query: { dryRun: 'All' },
        body: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data-partial-opb-2' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
      }).then(() => undefined, (e: unknown) => e)
      return !(err instanceof ApiError && /refused by this test/.test(err.message))
    }, 20_000)
    await waitFor('all three shards ready', async () => {
      for (const p of await listPods(admin, ns, 'app.kubernetes.io/instance=partial,app.kubernetes.io/component=opb')) if (!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) await markPodReady(admin, ns, p.metadata!.name!)
      const st = (await getResource(ns, 'partial')).status
      return st?.readyShards === 3 && st.conditions.find((c) => c.type === 'Degraded')?.status === 'False'
    }, 75_000, 250).catch(async (err: unknown) => {
      process.stdout.write(`status: ${JSON.stringify((await getResource(ns, 'partial')).status?.conditions)}\n${operators.map((o) => o.logs()).join('\n').split('\n').filter((l) => l.includes(ns)).slice(-15).join('\n')}\n`)
      throw err
    })
  })
})

describe('two resources that name the same topic', () => {
  it('the second gets TopicConflict naming the owner and no pods; once the owner is deleted it takes the topic', async () => {
    const [nsA, nsB] = [`own-a-${run}`, `own-b-${run}`]
    await ensureNamespace(admin, nsA)
    await ensureNamespace(admin, nsB)
    const shared = `${run}-shared.changelog`
    const spec = (name: string) => ({ ...pipeline(name, '').spec, topics: { orders: `${run}-${name}.orders`, changelog: shared, ordersPartitions: 1 }, opb: { shards: 1 } })
    await applyYaml(admin, JSON.stringify({ ...pipeline('rides', nsA), spec: spec('a') }), nsA)
    await waitFor('the owner\'s pod', async () => (await listPods(admin, nsA, 'app.kubernetes.io/instance=rides,app.kubernetes.io/component=opb'))[0], 30_000)
    const owner = await getResource(nsA, 'rides')

    await applyYaml(admin, JSON.stringify({ ...pipeline('rides', nsB), spec: spec('b') }), nsB)
    const conflict = await waitFor('TopicConflict on the second', async () => {
      const r = await getResource(nsB, 'rides')
      const c = r.status?.conditions.find((x) => x.type === 'TopicConflict')
      return c?.status === 'True' ? { r, c } : undefined
    }, 30_000)
    const ownerText = `${nsA}/rides (uid ${owner.metadata?.uid})`
    expect(conflict.c.message).toContain(`${shared} belongs to ${ownerText}`)
    expect(conflict.r.status?.topics?.find((t) => t.name === shared)).toMatchObject({ role: 'changelog', ready: false, conflict: ownerText })
    expect(conflict.r.status?.phase).toBe('Degraded')
    expect((await eventsOf(nsB)).some((e) => e.reason === 'TopicConflict' && e.type === 'Warning' && e.message.includes(shared))).toBe(true)
    // No pods, no StatefulSet, and none of its own topics created either.
    await new Promise((r) => setTimeout(r, 1500))
    expect(await listPods(admin, nsB, 'app.kubernetes.io/instance=rides')).toEqual([])
    expect(await admin.get(objectPath('apps/v1', 'statefulsets', nsB, 'rides-opa')).then(() => 'found', (e: unknown) => (e instanceof ApiError && e.code === 404 ? 'none' : e))).toBe('none')

    // The owner goes: its records are released, and the second claims the topic and gets its pod.
    await admin.delete(resourcePath(nsA, 'rides'))
    await waitFor('the second\'s pod', async () => (await listPods(admin, nsB, 'app.kubernetes.io/instance=rides,app.kubernetes.io/component=opb'))[0], 40_000).catch(async (err: unknown) => {
      // What the next failure needs: the operator's word on the release and the second's last status.
      const said = operators.map((o) => o.logs()).join('\n').split('\n').filter((l) => /release|claim|topic/i.test(l) && l.includes('rides'))
      process.stdout.write(`${said.slice(-20).join('\n')}\nstatus: ${JSON.stringify((await getResource(nsB, 'rides')).status?.topics)}\n`)
      throw err
    })
    // The pod is made in the pass whose status write comes after it.
    const settled = await waitFor('TopicConflict cleared', async () => {
      const c = (await getResource(nsB, 'rides')).status?.conditions.find((x) => x.type === 'TopicConflict')
      return c?.status === 'False' ? c : undefined
    }, 10_000)
    expect(settled.status).toBe('False')
  })
})

describe('a Kafka cluster that requires TLS', () => {
  let k: SecureKafka | undefined
  afterAll(() => k?.stop())

  it('a CA that did not sign the broker\'s certificate is named in Degraded; the right one lets the operator create the topics over SASL_SSL and mount the Secrets in the pods', async () => {
    k = startSecureKafka(inject('kafkaPort') + 60)
    const ns = `tls-${run}`
    await ensureNamespace(admin, ns)
    const secret = (name: string, data: Record<string, string>) =>
      applyYaml(admin, JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData: data }), ns)
    await secret('kafka-ca', { 'ca.crt': k.pem.ca })
    await secret('wrong-ca', { 'ca.crt': k.pem.otherCa })
    await secret('kafka-user', { username: k.user, password: k.password })
    await secret('kafka-client', { 'tls.crt': k.pem.clientCert, 'tls.key': k.pem.clientKey })
    const res = pipeline('secure', ns, { opb: { shards: 1 } })
    const kafka = { bootstrapServers: [k.saslSsl], credentials: { secretName: 'kafka-user', mechanism: 'SCRAM-SHA-512' } }
    await applyYaml(admin, JSON.stringify({ ...res, spec: { ...res.spec, kafka: { ...kafka, tls: { caSecretName: 'wrong-ca', clientSecretName: 'kafka-client' } } } }), ns)

    const degraded = await waitFor('Degraded naming the certificate', async () => {
      const c = (await getResource(ns, 'secure')).status?.conditions.find((x) => x.type === 'Degraded')
      return c?.status === 'True' && c.reason === 'TlsCertificateNotTrusted' ? c : undefined
    }, 60_000)
    expect(degraded.message).toMatch(/the broker's TLS certificate is not signed by an authority the client trusts/)
    expect(await listPods(admin, ns, 'app.kubernetes.io/instance=secure')).toEqual([])
    expect(operators.map((o) => o.logs()).join('\n')).toMatch(/topics check failed/)

    // The spec names the right CA: a new check, the topics created over SASL_SSL, the pods with the Secrets mounted.
    await admin.mergePatch(resourcePath(ns, 'secure'), { spec: { kafka: { tls: { caSecretName: 'kafka-ca' } } } })
    const ready = await waitFor('the topics ready over TLS', async () => {
      const r = await getResource(ns, 'secure')
      const c = r.status?.conditions.find((x) => x.type === 'Degraded')
      return c?.status === 'False' && r.status?.topics?.every((t) => t.ready) ? r : undefined
    }, 60_000)
    expect(ready.status?.topics?.length).toBe(7)
    const pod = await waitFor('the shard\'s pod', async () => (await listPods(admin, ns, 'app.kubernetes.io/instance=secure,app.kubernetes.io/component=opb'))[0], 30_000)
    const env = Object.fromEntries((pod.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.secretKeyRef?.name]))
    expect(env).toMatchObject({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_BROKERS: k.saslSsl, KAFKA_TLS_CA_FILE: '/etc/ridepulse/kafka-ca/ca.crt', KAFKA_TLS_CERT_FILE: '/etc/ridepulse/kafka-client/tls.crt', KAFKA_SASL_PASSWORD: 'kafka-user' })
    expect(pod.spec?.volumes?.map((v) => v.secret?.secretName).filter(Boolean)).toEqual(['kafka-ca', 'kafka-client'])
    // Created through the TLS listener, read back through the plaintext one.
    const plain = new Admin({ clientId: 'op-tls-test', bootstrapBrokers: [k.brokers] })
    try {
      const md = await plain.metadata({ topics: [`${run}-secure.changelog`], forceUpdate: true })
      expect(md.topics.get(`${run}-secure.changelog`)?.partitionsCount).toBe(1)
    } finally {
      await plain.close()
    }
  })
})

describe('the resource schema: the CRD on the API server and the operator\'s zod schema agree', () => {
  const ns = `schema-${run}`
  const base = { kafka: { bootstrapServers: ['kafka:9092'] } }
  const invalid: [string, Record<string, unknown>, string][] = [
    ['no bootstrap servers', { kafka: { bootstrapServers: [] } }, 'spec.kafka.bootstrapServers'],
    ['a broker without a port', { kafka: { bootstrapServers: ['kafka'] } }, 'spec.kafka.bootstrapServers[0]'],
    ['zero shards', { ...base, opb: { shards: 0 } }, 'spec.opb.shards'],
    ['a snapshot mode that does not exist', { ...base, snapshots: { mode: 'sometimes' } }, 'spec.snapshots.mode'],
    ['a storage size that is no quantity', { ...base, opb: { storage: { size: 'lots' } } }, 'spec.opb.storage.size'],
    ['more OpA instances than orders partitions', { ...base, opa: { replicas: 4 } }, 'spec.opa.replicas'],
    ['a long checkpoint interval', { ...base, snapshots: { mode: 'checkpoint', intervalMs: 20_000 } }, 'spec.snapshots.intervalMs'],
    ['replication factor 0', { kafka: { bootstrapServers: ['kafka:9092'], replicationFactor: 0 } }, 'spec.kafka.replicationFactor'],
    ['a bad topic name', { ...base, topics: { output: 'orders output' } }, 'spec.topics.output'],
    ['an unknown field', { ...base, opb: { shard: 3 } }, 'spec.opb.shard'],
    ['an unknown recovery strategy', { ...base, recovery: { strategy: 'pray' } }, 'spec.recovery.strategy'],
    ['a TLS Secret key with a slash', { kafka: { ...base.kafka, tls: { caSecretName: 'kafka-ca', caKey: 'ca/crt' } } }, 'spec.kafka.tls.caKey'],
    ['an unknown TLS field', { kafka: { ...base.kafka, tls: { insecure: true } } }, 'spec.kafka.tls.insecure'],
    ['a template setting a variable the operator sets', { ...base, opb: { template: { container: { env: [{ name: 'SHARD', value: '9' }] } } } }, 'spec.opb.template.container.env[0].name'],
    ['a template variable with value and valueFrom', { ...base, opa: { template: { container: { env: [{ name: 'TZ', value: 'UTC', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }] } } } }, 'spec.opa.template.container.env[0].valueFrom'],
    ['a template setting a selector label', { ...base, opb: { template: { pod: { metadata: { labels: { 'app.kubernetes.io/instance': 'other' } } } } } }, 'spec.opb.template.pod.metadata.labels'],
    ['a template setting the operator\'s annotation', { ...base, opa: { template: { pod: { metadata: { annotations: { 'ridepulse.io/spec-hash': 'x' } } } } } }, 'spec.opa.template.pod.metadata.annotations'],
    ['a toleration with an effect that does not exist', { ...base, opb: { template: { pod: { tolerations: [{ effect: 'Sometimes' }] } } } }, 'spec.opb.template.pod.tolerations[0].effect'],
    ['an anti-affinity term without a topology key', { ...base, opb: { template: { pod: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: {} }] } } } } } }, 'spec.opb.template.pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey'],
    ['a snapshot store without a bucket', { ...base, snapshots: { remote: { endpoint: 'http://minio:9000' } } }, 'spec.snapshots.remote.bucket'],
    ['a bucket name with capitals', { ...base, snapshots: { remote: { bucket: 'My_Bucket' } } }, 'spec.snapshots.remote.bucket'],
    ['a snapshot store endpoint that is no URL', { ...base, snapshots: { remote: { bucket: 'snaps', endpoint: 'minio:9000' } } }, 'spec.snapshots.remote.endpoint'],
    ['snapshot copies in checkpoint mode', { ...base, snapshots: { mode: 'checkpoint', remote: { bucket: 'snaps' } } }, 'spec.snapshots.remote'],
    ['a negative lost-claim timeout', { ...base, recovery: { lostClaimTimeoutSeconds: -1 } }, 'spec.recovery.lostClaimTimeoutSeconds'],
    ['a standby lease within two heartbeats', { ...base, opb: { standby: { enabled: true, heartbeatMs: 500, leaseMs: 1000 } } }, 'spec.opb.standby.leaseMs'],
    ['standby shards in checkpoint mode', { ...base, opb: { standby: { enabled: true } }, snapshots: { mode: 'checkpoint', intervalMs: 5000 } }, 'spec.opb.standby.enabled'],
    ['a priority class that is no DNS name', { ...base, opb: { template: { pod: { priorityClassName: 'High' } } } }, 'spec.opb.template.pod.priorityClassName'],
  ]
  const valid: [string, Record<string, unknown>][] = [
    ['the minimum', base],
    ['every field', (loadAllYaml(readFileSync(join(repoRoot, 'examples', 'statefuloperator.yaml'), 'utf8'))[0] as Resource).spec],
    ['TLS with a CA only (SSL)', { kafka: { bootstrapServers: ['kafka:9093'], tls: { caSecretName: 'kafka-ca' } } }],
    ['TLS on the runtime\'s authorities, mutual TLS and SASL over TLS', { kafka: { bootstrapServers: ['kafka:9093'], tls: { clientSecretName: 'kafka-client', certKey: 'user.crt', keyKey: 'user.key' }, credentials: { secretName: 'kafka-user', mechanism: 'SCRAM-SHA-256' } } }],
    ['snapshot copies on MinIO with credentials and a CA', { ...base, snapshots: { remote: { bucket: 'ridepulse', endpoint: 'https://minio.storage:9000', prefix: 'city/', credentials: { secretName: 'minio' }, caSecretName: 'minio-ca' } } }],
    ['standby shards', { ...base, opb: { shards: 2, standby: { enabled: true, leaseMs: 600 } } }],
    ['a pod template with every field', { ...base, opa: { template: EVERY_TEMPLATE_FIELD }, opb: { template: EVERY_TEMPLATE_FIELD } }],
    ['credentials and the global strategy', { kafka: { bootstrapServers: ['a:9092', 'b:9093'], credentials: { secretName: 'kafka-user' } }, recovery: { strategy: 'global' }, opb: { shards: 30, resources: { limits: { cpu: 2, memory: '1Gi' } } } }],
  ]

  beforeAll(async () => {
    await ensureNamespace(admin, ns)
  })

  const dryRunCreate = (name: string, spec: unknown) =>
    admin.request<Resource>('POST', resourcePath(ns), {
      query: { dryRun: 'All', fieldValidation: 'Strict' },
      body: { apiVersion: 'ridepulse.io/v1alpha1', kind: 'StatefulOperator', metadata: { name }, spec },
    })

  it.each(invalid)('rejects %s, naming the field', async (_what, spec, field) => {
    const err = await dryRunCreate('bad', spec).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).message).toContain(field.replace(/\[0\]$/, ''))
    const z = parseResource({ namespace: 'ns', name: 'bad' }, spec)
    expect(z.ok).toBe(false)
    if (!z.ok) expect(z.issues.map((i) => i.path)).toContain(field.replace(/\[(\d+)\]/, '.$1'))
  })

  it.each(valid)('accepts %s and fills the same defaults', async (_what, spec) => {
    const server = await dryRunCreate('good', spec)
    const z = specSchema.safeParse(spec)
    expect(z.success).toBe(true)
    if (z.success) expect(sameJson(server.spec, z.data), JSON.stringify({ server: server.spec, zod: z.data })).toBe(true)
  })

  it('reserves in the CRD the same variables as in the schema', () => {
    const crd = loadAllYaml(readFileSync(join(repoRoot, 'crds', 'statefuloperators.ridepulse.io.yaml'), 'utf8'))[0] as unknown as { spec: { versions: { schema: { openAPIV3Schema: Record<string, never> } }[] } }
    const rules = JSON.stringify(crd.spec.versions[0]!.schema.openAPIV3Schema)
    const listed = /!\(self\.name in \[([^\]]*)\]\)/.exec(rules)?.[1]?.split(',').map((n) => n.trim().replace(/'/g, ''))
    expect(listed).toEqual([...RESERVED_WORKER_ENV])
  })

  it('rejects a name too long for pod names and transactional ids', async () => {
    const err = await dryRunCreate('a'.repeat(41), base).then(() => undefined, (e: unknown) => e)
    expect((err as ApiError).message).toContain('metadata.name')
    expect(parseResource({ namespace: 'ns', name: 'a'.repeat(41) }, base)).toMatchObject({ ok: false, issues: [{ path: 'metadata.name' }] })
  })

  it('refuses to change the shard count of an existing pipeline', async () => {
    await applyYaml(admin, JSON.stringify(pipeline('fixed', ns, { opb: { shards: 2 } })), ns)
    const err = await admin.mergePatch(resourcePath(ns, 'fixed'), { spec: { opb: { shards: 4 } } }).then(() => undefined, (e: unknown) => e)
    expect((err as ApiError).message).toContain('spec.opb.shards')
  })
})

describe('the global recovery strategy (the baseline)', () => {
  const ns = `global-${run}`

  it('restarts every OpA and OpB pod when one shard fails', async () => {
    await ensureNamespace(admin, ns)
    await applyYaml(admin, JSON.stringify(pipeline('whole', ns, { recovery: { strategy: 'global' } })), ns)
    await waitFor('3 pods', async () => (await listPods(admin, ns, 'app.kubernetes.io/component=opb')).length === 3)
    for (const i of [0, 1, 2]) await markPodReady(admin, ns, `whole-opb-${i}`)
    await waitFor('3 shards ready', async () => (await getResource(ns, 'whole')).status?.readyShards === 3)
    // OpA's pod, made by the StatefulSet controller.
    await waitFor('the OpA pod', async () => (await listPods(admin, ns, 'app.kubernetes.io/instance=whole,app.kubernetes.io/component=opa'))[0])
    const before = new Map((await listPods(admin, ns, 'app.kubernetes.io/instance=whole')).map((p) => [p.metadata!.name!, p.metadata!.uid!]))
    expect(before.size).toBe(4)
    await admin.delete(objectPath('v1', 'pods', ns, 'whole-opb-0'), { gracePeriodSeconds: 0 })
    // Every pod replaced: the OpB pods by the operator, OpA's by its StatefulSet controller.
    await waitFor('every pod replaced', async () => {
      const pods = await listPods(admin, ns, 'app.kubernetes.io/instance=whole')
      return pods.length === 4 && pods.every((p) => before.has(p.metadata!.name!) && p.metadata?.uid !== before.get(p.metadata!.name!))
    }, 20_000)
    expect((await eventsOf(ns)).map((e) => e.reason)).toContain('PipelineRestart')
  })
})

describe('the chart', () => {
  it('renders manifests the API server accepts (server-side dry run), the sample resource included', async () => {
    const rendered = helmTemplate(inject('kubeBin'), 'chart-test', ['sample.create=true', 'watchNamespaces={chart-test}'])
    await ensureNamespace(admin, 'chart-test')
    const objects = loadAllYaml(rendered)
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'ServiceAccount', 'Role', 'RoleBinding', 'Service', 'StatefulOperator']))
    for (const o of objects) await applyYaml(admin, JSON.stringify(o), 'chart-test', 'ridepulse-tests', { dryRun: 'All' })
    const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { securityContext: unknown }[] } } } }
    expect(deployment.spec.template.spec.containers[0]?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true })
  })

  it('ships the same CRD as crds/', () => {
    expect(readFileSync(join(repoRoot, 'helm', 'ridepulse-operator', 'files', 'statefuloperators.ridepulse.io.yaml'), 'utf8')).toBe(readFileSync(join(repoRoot, 'crds', 'statefuloperators.ridepulse.io.yaml'), 'utf8'))
  })

  // The hooks' code; their Pod and Job run it on a real cluster (`helm test` and the uninstall in the end-to-end run).
  const hook = (args: string[], env: Record<string, string>) => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'operator', 'dist', 'chart-hooks.js'), ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 120_000 })
    return { code: r.status, out: `${r.stdout}${r.stderr}` }
  }

  it('helm test\'s check: the operator answers and the API server serves the resource; a silent operator fails it', () => {
    const ok = hook(['test'], { KUBECONFIG: saKubeconfig, OPERATOR_URL: `http://127.0.0.1:${operators[0]!.port()}` })
    expect(ok.out).toMatch(/the operator answers: .*\/readyz 200/)
    expect(ok.out).toMatch(/the API server serves ridepulse.io\/v1alpha1 StatefulOperator/)
    expect(ok.code).toBe(0)
    const silent = hook(['test'], { KUBECONFIG: saKubeconfig, OPERATOR_URL: 'http://127.0.0.1:1', HOOK_TIMEOUT_SECONDS: '2' })
    expect(silent.out).toMatch(/http:\/\/127.0.0.1:1\/readyz: no answer within 2 s/)
    expect(silent.code).toBe(1)
  })

  it('the uninstall hook deletes a resource and waits while the operator releases it', async () => {
    const ns = `hook-${run}`
    await ensureNamespace(admin, ns)
    await applyYaml(admin, JSON.stringify(pipeline('hooked', ns, { opb: { shards: 1 } })), ns)
    await waitFor('the finalizer on hooked', async () => (await getResource(ns, 'hooked')).metadata?.finalizers?.includes('ridepulse.io/claims'))
    const r = hook(['delete', `${ns}/hooked`], { KUBECONFIG: inject('kubeconfig') })
    expect(r.out).toMatch(new RegExp(`${ns}/hooked: deleted in \\d+ ms`))
    expect(r.code).toBe(0)
    expect(await admin.get(resourcePath(ns, 'hooked')).then(() => 'found', (e: unknown) => (e instanceof ApiError && e.code === 404 ? 'gone' : e))).toBe('gone')
    expect(hook(['delete', `${ns}/hooked`], { KUBECONFIG: inject('kubeconfig') }).out).toMatch(/already gone/)
  })
})

describe('leadership and restarts', () => {
  const ns = `leader-${run}`

  it('a standby replica rides out an API server it cannot reach, and campaigns on', async () => {
    // The standby reaches the API server through a link the test cuts.
    const relay = await TcpRelay.start(new URL(admin.cluster.server).host)
    const kubeconfig = join(tmpdir(), `ridepulse-sa-relay-${run}.kubeconfig`)
    writeFileSync(kubeconfig, readFileSync(saKubeconfig, 'utf8').replace(admin.cluster.server, `https://${relay.address}`), { mode: 0o600 })
    const standby = startOperator({ KUBECONFIG: kubeconfig, LEASE_NAMESPACE: OP_NS, LEASE_NAME: SA, POD_NAME: 'operator-c', HTTP_PORT: '0' })
    try {
      await waitFor('operator-c waiting', async () => standby.logs().includes('waiting for leadership'))
      await relay.pause()
      await waitFor('operator-c noticing', async () => standby.logs().includes('could not read or take the lease'), 15_000)
      await new Promise((r) => setTimeout(r, 2000))
      expect(standby.child.exitCode, standby.logs().split('\n').slice(-5).join('\n')).toBeNull()
      await relay.resume()
      await waitFor('operator-c reaching the API server again', async () => standby.logs().includes('the API server answers again'), 15_000)
      expect(standby.child.exitCode).toBeNull()
      expect(await (await fetch(`http://127.0.0.1:${standby.port()}/metrics`)).text()).toMatch(/^ridepulse_operator_leader 0$/m)
      // Said once per outage, not once per attempt.
      expect(standby.logs().split('could not read or take the lease').length - 1).toBe(1)
    } finally {
      await standby.kill('SIGTERM')
      await relay.close()
    }
  })

  it('a second replica waits on the lease; when the leader dies mid-reconcile it takes over and converges', async () => {
    await ensureNamespace(admin, ns)
    const standby = startOperator({ KUBECONFIG: saKubeconfig, LEASE_NAMESPACE: OP_NS, LEASE_NAME: SA, POD_NAME: 'operator-b', HTTP_PORT: '0' })
    operators.push(standby)
    await waitFor('operator-b waiting', async () => standby.logs().includes('waiting for leadership'))
    const metricsOf = async (o: OperatorProcess) => (await fetch(`http://127.0.0.1:${o.port()}/metrics`)).text()
    expect(await metricsOf(standby)).toMatch(/^ridepulse_operator_leader 0$/m)
    expect((await fetch(`http://127.0.0.1:${standby.port()}/readyz`)).status).toBe(200)
    expect(await metricsOf(operators[0]!)).toMatch(/^ridepulse_operator_leader 1$/m)

    await applyYaml(admin, JSON.stringify(pipeline('big', ns, { opb: { shards: 30 } })), ns)
    // Kill the leader as soon as its first pod exists: the pass is half done.
    await waitFor('the first pod of big', async () => (await listPods(admin, ns, 'app.kubernetes.io/instance=big')).length > 0, 30_000, 20)
    await operators[0]!.kill('SIGKILL')
    const partial = (await listPods(admin, ns, 'app.kubernetes.io/instance=big')).length
    await waitFor('operator-b leading', async () => standby.logs().includes('acquired leadership'), 15_000)
    const status = await waitFor('30 shards in status', async () => {
      const r = await getResource(ns, 'big')
      return r.status?.shards?.length === 30 && r.status.shards.every((s) => s.podUid) ? r.status : undefined
    }, 60_000)
    const pods = await listPods(admin, ns, 'app.kubernetes.io/instance=big')
    expect(pods.filter((p) => p.metadata?.labels?.['app.kubernetes.io/component'] === 'opb')).toHaveLength(30)
    expect(new Set(status.shards?.map((s) => s.podUid)).size).toBe(30)
    expect(status.recoveries).toBe(0)
    expect(partial, 'the leader was killed before it had created every pod').toBeLessThan(30)
    const m = await metricsOf(standby)
    expect(m).toMatch(/^ridepulse_operator_leader 1$/m)
    expect(Number(/^ridepulse_operator_reconcile_seconds_count (\d+)$/m.exec(m)?.[1])).toBeGreaterThan(0)
  })
})

describe('least privilege: an operator given a list of namespaces', () => {
  it('runs the pipelines there and nowhere else, and cannot read a Secret outside them', async () => {
    // The other operators run over every namespace: they go first.
    for (const o of operators) await o.kill('SIGTERM')
    const [a, b, outside] = [`lp-a-${run}`, `lp-b-${run}`, `lp-out-${run}`]
    for (const n of [a, b, outside]) await ensureNamespace(admin, n)
    const release = 'scoped'
    const rendered = loadAllYaml(execFileSync(join(inject('kubeBin'), 'helm'), ['template', release, join(repoRoot, 'helm', 'ridepulse-operator'), '--namespace', OP_NS, '--kube-version', '1.31.4', '--set', `watchNamespaces={${a},${b}}`], { encoding: 'utf8' }))
    const rbac = rendered.filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o?.kind ?? ''))
    // Cluster-wide, only reading nodes and volumes; everything else is a Role in a watched namespace (or the lease, in the operator's own).
    const clusterRoles = rbac.filter((o) => o.kind === 'ClusterRole') as unknown as { rules: { resources: string[]; verbs: string[] }[] }[]
    expect(clusterRoles.flatMap((r) => r.rules)).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['persistentvolumes'], verbs: ['get'] },
    ])
    expect(rbac.filter((o) => o.kind === 'Role').map((o) => o.metadata?.namespace).sort()).toEqual([a, b, OP_NS].sort())
    for (const o of rbac) await applyYaml(admin, JSON.stringify(o), o.metadata?.namespace ?? OP_NS)
    const sa = `${release}-ridepulse-operator`
    const kubeconfig = await serviceAccountKubeconfig(admin, OP_NS, sa, join(tmpdir(), `ridepulse-sa-scoped-${run}.kubeconfig`))
    const scoped = startOperator({ KUBECONFIG: kubeconfig, LEASE_NAMESPACE: OP_NS, LEASE_NAME: sa, POD_NAME: 'scoped-a', HTTP_PORT: '0', WATCH_NAMESPACES: `${a},${b}` })
    operators.push(scoped)

    // Topics of their own (pipeline() names them after the resource).
    const name = (n: string) => `scoped-${n === a ? 'a' : n === b ? 'b' : 'out'}`
    for (const n of [a, b, outside]) await applyYaml(admin, JSON.stringify(pipeline(name(n), n, { opb: { shards: 1 } })), n)
    for (const n of [a, b]) {
      await waitFor(`the pipeline in ${n} reconciled`, async () => (await getResource(n, name(n))).status?.shards?.length === 1, 30_000).catch((err: unknown) => {
        process.stdout.write(`the scoped operator said:\n${scoped.logs().split('\n').slice(-20).join('\n')}\n`)
        throw err
      })
    }
    await new Promise((r) => setTimeout(r, 2000))
    expect((await getResource(outside, name(outside))).status).toBeUndefined()
    expect(await listPods(admin, outside, `app.kubernetes.io/instance=${name(outside)}`)).toEqual([])
    expect(scoped.logs()).not.toMatch(/forbidden/i)

    // The operator's ServiceAccount reads a Secret in a watched namespace, and not one outside.
    const asOperator = restFor(kubeconfig)
    for (const n of [a, outside]) await applyYaml(admin, JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'kafka-user', namespace: n }, stringData: { username: 'u', password: 'p' } }), n)
    expect((await asOperator.get<{ metadata: { name: string } }>(objectPath('v1', 'secrets', a, 'kafka-user'))).metadata.name).toBe('kafka-user')
    const refused = await asOperator.get(objectPath('v1', 'secrets', outside, 'kafka-user')).then(() => undefined, (e: unknown) => e)
    expect(refused).toBeInstanceOf(ApiError)
    expect((refused as ApiError).code).toBe(403)
    // Nor list pods, or create one, outside.
    const pods = await asOperator.get(objectPath('v1', 'pods', outside)).then(() => undefined, (e: unknown) => e)
    expect((pods as ApiError).code).toBe(403)
  })
})
