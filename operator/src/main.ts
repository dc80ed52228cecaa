#!/usr/bin/env node
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node'
import { pino } from 'pino'
import { LABEL_INSTANCE, LABEL_MANAGED_BY, FIELD_MANAGER } from './core/builders.js'
import { resourcesOnNode } from './core/observe.js'
import { API_VERSION, PLURAL } from '@ridepulse/contracts'
import { ConfigError, loadConfig, type OperatorConfig } from './config.js'
import { fetchJson, startHttp } from './http.js'
import { ownerGoneRequest } from './core/handoff.js'
import { ResilientInformer } from './kube/informers.js'
import { LeaderElector } from './kube/leader.js'
import { NoClusterConfiguredError, objectPath, Rest } from './kube/rest.js'
import { createMetrics } from './metrics.js'
import { Reconciler } from './reconcile/reconciler.js'
import { WorkQueue } from './reconcile/queue.js'

let cfg: OperatorConfig
try {
  cfg = loadConfig(process.env)
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message)
    process.exit(2)
  }
  throw err
}

const log = pino({ level: cfg.LOG_LEVEL, base: { component: 'operator', replica: cfg.POD_NAME } })
let rest: Rest
try {
  rest = Rest.load(cfg.KUBECONFIG || undefined)
} catch (err) {
  if (err instanceof NoClusterConfiguredError) {
    console.error(err.message)
    process.exit(2)
  }
  throw err
}
const metrics = createMetrics()

let leading = false
let synced = false
const informers: ResilientInformer<KubernetesObject>[] = []
const queue = new WorkQueue(
  (key) => reconciler.reconcile(key),
  (key, err, retryInMs) => {
    metrics.reconcileErrors.inc()
    log.warn({ resource: key, err, retryInMs }, 'reconcile failed')
  },
  cfg.CONCURRENCY,
)
const reconciler = new Reconciler({
  rest,
  log,
  metrics,
  identity: cfg.POD_NAME,
  topicCheckEveryMs: cfg.TOPIC_CHECK_EVERY_MS,
  requeue: (key) => queue.add(key),
  kubeletNudge: cfg.KUBELET_NUDGE,
  lagPollMs: cfg.LAG_POLL_MS,
  fetchWorkerStatus: (ip, port) => fetchJson(`http://${ip.includes(':') ? `[${ip}]` : ip}:${port}/status`, 1500),
})
const server = await startHttp(cfg.HTTP_PORT, metrics.registry, {
  ready: () => !leading || synced,
  status: () => ({ replica: cfg.POD_NAME, leading, synced, queued: queue.length }),
})
const address = server.address()
log.info({ port: typeof address === 'object' ? address?.port : cfg.HTTP_PORT }, 'serving /healthz, /readyz, /status and /metrics')

const elector = cfg.LEADER_ELECTION
  ? new LeaderElector(rest, { namespace: cfg.LEASE_NAMESPACE, name: cfg.LEASE_NAME, identity: cfg.POD_NAME, leaseDurationMs: cfg.LEASE_DURATION_MS, renewDeadlineMs: cfg.LEASE_RENEW_DEADLINE_MS, retryPeriodMs: cfg.LEASE_RETRY_PERIOD_MS }, log)
  : undefined

let stopping = false
async function shutdown(signal: string, code: number) {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'stopping')
  queue.stop()
  await Promise.all(informers.map((i) => i.stop()))
  if (leading) await elector?.release()
  server.close()
  process.exit(code)
}
process.on('SIGTERM', () => void shutdown('SIGTERM', 0))
process.on('SIGINT', () => void shutdown('SIGINT', 0))

await elector?.acquire()
if (stopping) await new Promise(() => undefined)
leading = true
metrics.leader.set(1)
log.info({ namespaces: cfg.WATCH_NAMESPACES.length > 0 ? cfg.WATCH_NAMESPACES : '(all)' }, 'leading: starting the controller')

const ownedSelector = `${LABEL_MANAGED_BY}=${FIELD_MANAGER}`
const byOwnedLabel = (o: KubernetesObject) => {
  const inst = o.metadata?.labels?.[LABEL_INSTANCE]
  if (inst && o.metadata?.namespace) queue.add(`${o.metadata.namespace}/${inst}`)
}
const watchSeconds = cfg.WATCH_SECONDS
/** A standby pair's pod deleted outright: its partner hears it now rather than when the kubelet stops the container (core/handoff.ts). */
async function tellPartner(deleted: V1Pod): Promise<void> {
  const req = ownerGoneRequest(deleted, podInformers.flatMap((i) => i.cache.list()))
  if (!req) return
  try {
    const res = await fetch(req.url, { method: 'POST', signal: AbortSignal.timeout(1000) })
    const outcome = res.ok ? 'taken' : 'refused'
    metrics.ownerGone.inc({ outcome })
    log.info({ pod: deleted.metadata?.name, partner: req.partner, outcome, answer: (await res.text()).trim() }, 'pod of a standby pair deleted: its partner told')
  } catch (err) {
    metrics.ownerGone.inc({ outcome: 'failed' })
    log.warn({ pod: deleted.metadata?.name, partner: req.partner, err: (err as Error).message }, 'pod of a standby pair deleted: its partner could not be told')
  }
}
// One set of watches per watched namespace (what a namespaced Role allows), or one over all of them.
const podInformers: ResilientInformer<V1Pod>[] = []
for (const ns of cfg.WATCH_NAMESPACES.length > 0 ? cfg.WATCH_NAMESPACES : [undefined]) {
  const onPod = (o: V1Pod, verb: 'add' | 'update' | 'delete') => {
    byOwnedLabel(o)
    if (verb === 'delete') void tellPartner(o)
  }
  const pods: ResilientInformer<V1Pod> = new ResilientInformer<V1Pod>(rest, { path: objectPath('v1', 'pods', ns), labelSelector: ownedSelector, onEvent: onPod, watchSeconds }, log)
  podInformers.push(pods)
  informers.push(
    new ResilientInformer<KubernetesObject>(rest, {
      path: objectPath(API_VERSION, PLURAL, ns),
      watchSeconds,
      onEvent: (o) => o.metadata?.namespace && o.metadata.name && queue.add(`${o.metadata.namespace}/${o.metadata.name}`),
    }, log),
    pods,
    new ResilientInformer(rest, { path: objectPath('v1', 'persistentvolumeclaims', ns), labelSelector: ownedSelector, onEvent: byOwnedLabel, watchSeconds }, log),
    new ResilientInformer(rest, { path: objectPath('apps/v1', 'statefulsets', ns), labelSelector: ownedSelector, onEvent: byOwnedLabel, watchSeconds }, log),
  )
}
// A node going NotReady, or deleted, concerns the pipelines with a pod on it, and only those.
informers.push(
  new ResilientInformer(rest, {
    path: objectPath('v1', 'nodes', undefined),
    watchSeconds,
    onEvent: (node) => {
      for (const key of resourcesOnNode(node.metadata?.name, podInformers.flatMap((i) => i.cache.list()))) queue.add(key)
    },
  }, log),
)
await Promise.all(informers.map((i) => i.start()))
synced = true
const running = queue.run()
setInterval(() => metrics.queueDepth.set(queue.length), 1000).unref()

if (elector) {
  await elector.hold()
  log.error('lost leadership: exiting so a fresh process can campaign again')
  metrics.leader.set(0)
  await shutdown('lease-lost', 1)
}
await running
