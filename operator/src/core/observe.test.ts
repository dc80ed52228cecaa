import { describe, expect, it } from 'vitest'
import type { V1Node, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node'
import { ANNOTATION_NUDGED_AT, ANNOTATION_NUDGES, ANNOTATION_SPEC_HASH, LABEL_INSTANCE } from './builders.js'
import { claimLostReason, nodeNotReadySince, observePod, podProblem, resourcesOnNode, volumeHosts } from './observe.js'

describe('observePod', () => {
  it('reads readiness, deletion, restarts and annotations off a pod', () => {
    const p: V1Pod = {
      metadata: {
        name: 'rides-opb-1',
        uid: 'u1',
        creationTimestamp: new Date('2026-01-01T00:00:00Z'),
        deletionTimestamp: new Date('2026-01-01T00:01:00Z'),
        deletionGracePeriodSeconds: 30,
        annotations: { [ANNOTATION_SPEC_HASH]: 'h1', [ANNOTATION_NUDGED_AT]: '2026-01-01T00:00:10.000Z', [ANNOTATION_NUDGES]: '2' },
      },
      spec: { containers: [], nodeName: 'n1' },
      status: {
        phase: 'Running',
        podIP: '10.0.0.7',
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date('2026-01-01T00:00:05Z') }],
        containerStatuses: [{ name: 'w', image: 'i', imageID: '', ready: true, restartCount: 2, started: true, lastState: { terminated: { exitCode: 137, finishedAt: new Date('2026-01-01T00:00:03Z') } } }],
      },
    }
    expect(observePod(p)).toEqual({
      name: 'rides-opb-1',
      uid: 'u1',
      phase: 'Running',
      ready: true,
      readySinceMs: Date.parse('2026-01-01T00:00:05Z'),
      createdAtMs: Date.parse('2026-01-01T00:00:00Z'),
      // The deletion was asked for a grace period before the deletion timestamp.
      deletionRequestedAtMs: Date.parse('2026-01-01T00:00:30Z'),
      deletionGraceSeconds: 30,
      nodeName: 'n1',
      specHash: 'h1',
      restarts: 2,
      lastTerminatedAtMs: Date.parse('2026-01-01T00:00:03Z'),
      ip: '10.0.0.7',
      started: true,
      nudgedAtMs: Date.parse('2026-01-01T00:00:10Z'),
      nudges: 2,
    })
  })

  it('takes a pod with no status yet as pending and not started', () => {
    expect(observePod({ metadata: { name: 'p' } })).toMatchObject({ phase: 'Pending', ready: false, started: false, restarts: 0 })
  })
})

describe('nodeNotReadySince', () => {
  const node = (status: string | undefined): V1Node => ({ status: { conditions: status ? [{ type: 'Ready', status, lastTransitionTime: new Date(1000) }] : [] } })
  it.each([
    ['Ready', node('True'), undefined],
    ['NotReady', node('False'), 1000],
    ['Unknown (its kubelet went silent)', node('Unknown'), 1000],
    ['no Ready condition', node(undefined), undefined],
    ['no node', undefined, undefined],
  ])('%s', (_, n, since) => {
    expect(nodeNotReadySince(n)).toBe(since)
  })
})

describe('resourcesOnNode', () => {
  const at = (ns: string, inst: string, node?: string): V1Pod => ({ metadata: { namespace: ns, labels: { [LABEL_INSTANCE]: inst } }, spec: { containers: [], ...(node ? { nodeName: node } : {}) } })
  it('names only the resources with a pod on the node, each once', () => {
    const pods = [at('a', 'rides', 'n1'), at('a', 'rides', 'n1'), at('b', 'rides', 'n2'), at('c', 'fleet', 'n1'), at('d', 'idle')]
    expect(resourcesOnNode('n1', pods).sort()).toEqual(['a/rides', 'c/fleet'])
    expect(resourcesOnNode('n3', pods)).toEqual([])
    expect(resourcesOnNode(undefined, pods)).toEqual([])
  })
})

describe('podProblem', () => {
  const at = new Date('2026-01-01T00:00:00Z')
  const withStatus = (status: V1Pod['status']): V1Pod => ({ metadata: { name: 'p' }, spec: { containers: [] }, status })

  it('says a crash loop with the exit code and the worker\'s last error line', () => {
    const message = `${JSON.stringify({ level: 30, msg: 'starting' })}\n${JSON.stringify({ level: 50, msg: 'cannot use the Kafka cluster: wrong CA', reason: 'TlsCertificateNotTrusted' })}\n${JSON.stringify({ level: 30, msg: 'stopped' })}\n`
    expect(podProblem(withStatus({
      phase: 'Running',
      containerStatuses: [{ name: 'opb', image: 'i', imageID: '', ready: false, restartCount: 5, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 1m20s restarting failed container' } }, lastState: { terminated: { exitCode: 1, reason: 'Error', message, finishedAt: at } } }],
    }))).toBe('container opb: CrashLoopBackOff (back-off 1m20s restarting failed container); last exit code 1 (Error): cannot use the Kafka cluster: wrong CA [TlsCertificateNotTrusted]')
  })

  it.each([
    ['an image that cannot be pulled', { phase: 'Pending', containerStatuses: [{ name: 'opb', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "ridepulse/worker:typo"' } } }] }, 'container opb: ImagePullBackOff (Back-off pulling image "ridepulse/worker:typo")'],
    ['a pod no node takes', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient memory.' }] }, 'not scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient memory.'],
    ['a Secret the pod needs that is missing', { phase: 'Pending', containerStatuses: [{ name: 'opb', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "kafka-user" not found' } } }] }, 'container opb: CreateContainerConfigError (secret "kafka-user" not found)'],
    ['a killed process, plain log', { phase: 'Running', containerStatuses: [{ name: 'opb', image: 'i', imageID: '', ready: false, restartCount: 1, state: { running: { startedAt: at } }, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled', message: 'line one\nout of memory\n' } } }] }, 'last exit code 137 (OOMKilled): out of memory'],
  ] as [string, V1Pod['status'], string][])('says %s', (_, status, expected) => {
    expect(podProblem(withStatus(status))).toBe(expected)
  })

  it('says nothing of a container being created, nor of a pod that is ready', () => {
    expect(podProblem(withStatus({ phase: 'Pending', containerStatuses: [{ name: 'opb', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] }))).toBeUndefined()
    expect(observePod(withStatus({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'opb', image: 'i', imageID: '', ready: true, restartCount: 1, lastState: { terminated: { exitCode: 1 } } }] })).problem).toBeUndefined()
  })
})

describe('claimLostReason', () => {
  const now = Date.parse('2026-01-01T00:10:00Z')
  const bound: V1PersistentVolumeClaim = { spec: { volumeName: 'pv-1' }, status: { phase: 'Bound' } }
  const pinned = (...hosts: string[]): V1PersistentVolume => ({
    spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: hosts }] }] } } },
  })
  const node = (ready: boolean, since = '2026-01-01T00:00:00Z'): V1Node => ({ status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date(since) }] } })

  it('reads the hosts a volume is pinned to', () => {
    expect(volumeHosts(pinned('n2', 'n1'))).toEqual(['n1', 'n2'])
    expect(volumeHosts({ spec: {} })).toEqual([])
  })

  it('says a claim is lost when its volume is gone, or pinned only to nodes gone or NotReady past the timeout', () => {
    expect(claimLostReason({ spec: { volumeName: 'pv-1' }, status: { phase: 'Lost' } }, undefined, new Map(), now, 60_000)).toBe('its volume pv-1 is gone (the claim is Lost)')
    expect(claimLostReason(bound, 'gone', new Map(), now, 60_000)).toBe('its volume pv-1 no longer exists')
    expect(claimLostReason(bound, pinned('n1'), new Map([['n1', 'gone' as const]]), now, 60_000)).toBe('its volume pv-1 is pinned to a node that cannot run it: node n1 no longer exists')
    expect(claimLostReason(bound, pinned('n1', 'n2'), new Map<string, V1Node | 'gone'>([['n1', 'gone'], ['n2', node(false)]]), now, 60_000)).toBe(
      'its volume pv-1 is pinned to nodes that cannot run it: node n1 no longer exists, node n2 NotReady for 600 s',
    )
  })

  it('says nothing while one of its nodes can still run it, or while nothing is known', () => {
    expect(claimLostReason(bound, pinned('n1', 'n2'), new Map<string, V1Node | 'gone'>([['n1', 'gone'], ['n2', node(true)]]), now, 60_000)).toBeUndefined()
    expect(claimLostReason(bound, pinned('n1'), new Map([['n1', node(false, '2026-01-01T00:09:30Z')]]), now, 60_000)).toBeUndefined()
    expect(claimLostReason(bound, { spec: {} }, new Map(), now, 60_000)).toBeUndefined()
    expect(claimLostReason({ status: { phase: 'Pending' } }, undefined, new Map(), now, 60_000)).toBeUndefined()
    expect(claimLostReason(bound, undefined, new Map(), now, 60_000)).toBeUndefined()
  })
})
