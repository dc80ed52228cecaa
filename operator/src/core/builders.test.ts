import { describe, expect, it } from 'vitest'
import { buildOpaStatefulSet, buildOpbClaim, buildOpbPod, opbTemplateHash, type Owner } from './builders.js'
import { parseResource, type PipelineSpecInput } from './spec.js'

const owner: Owner = { name: 'rides', namespace: 'city', uid: 'uid-1' }
const specOf = (s: Partial<PipelineSpecInput> = {}) => {
  const r = parseResource('rides', { kafka: { bootstrapServers: ['k1:9092', 'k2:9092'] }, ...s })
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

  it('takes SASL credentials from the Secret, never into the pod spec', () => {
    const pod = buildOpbPod(owner, specOf({ kafka: { bootstrapServers: ['k:9092'], credentials: { secretName: 'kafka-user' } } }), 0)
    const e = pod.spec!.containers[0]!.env!
    expect(e.find((x) => x.name === 'KAFKA_SASL_PASSWORD')).toEqual({ name: 'KAFKA_SASL_PASSWORD', valueFrom: { secretKeyRef: { name: 'kafka-user', key: 'password' } } })
    expect(e.find((x) => x.name === 'KAFKA_SASL_MECHANISM')?.value).toBe('SCRAM-SHA-512')
  })

  it('sizes the claim and keeps it from being the controller\'s', () => {
    const c = buildOpbClaim(owner, specOf({ opb: { storage: { size: '5Gi', storageClassName: 'local-path' } } }), 1)
    expect(c.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } }, storageClassName: 'local-path' })
    expect(c.metadata?.ownerReferences?.[0]?.controller).toBe(false)
  })

  it('gives OpA its ordinal and the instance count', () => {
    const sts = buildOpaStatefulSet(owner, specOf({ opa: { replicas: 2 } }))
    expect(sts.spec?.replicas).toBe(2)
    const e = sts.spec!.template.spec!.containers[0]!.env!
    expect(e.find((x) => x.name === 'OPA_INDEX')?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.labels['apps.kubernetes.io/pod-index']")
    expect(env(e)).toMatchObject({ ROLE: 'opa', OPA_INSTANCES: '2' })
  })
})
