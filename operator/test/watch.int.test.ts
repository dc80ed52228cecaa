import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ensureNamespace, installCrd, resourcePath, restFor, startControlPlane, startOperator, waitFor, type OperatorProcess } from '@ridepulse/testkit'
import { ApiError, type Rest } from '@ridepulse/operator'

/** What the operator watches: its resources, and the pods, claims, StatefulSets and nodes it manages. */
const WATCHED = ['statefuloperators', 'pods', 'persistentvolumeclaims', 'statefulsets', 'nodes']
const WATCH_SECONDS = 2
const PERIODS = 6

/** Requests the API server has served, by verb and resource (its own `apiserver_request_total`). */
async function requestCounts(rest: Rest): Promise<Map<string, number>> {
  const text = await rest.request<string>('GET', '/metrics')
  const counts = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue
    const verb = /verb="([A-Z]+)"/.exec(line)?.[1]
    const resource = /resource="([^"]*)"/.exec(line)?.[1]
    if (!verb || !resource || !WATCHED.includes(resource)) continue
    const key = `${verb} ${resource}`
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)))
  }
  return counts
}

const delta = (after: Map<string, number>, before: Map<string, number>, key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0)

describe('the operator\'s watches over several renewal periods', () => {
  const run = Date.now().toString(36)
  const ns = `watch-${run}`
  let admin: Rest
  let operator: OperatorProcess
  // An API server of its own without controllers: the request counts are then the operator's alone.
  let cp: ReturnType<typeof startControlPlane> | undefined

  beforeAll(async () => {
    cp = startControlPlane(inject('kafkaPort') + 2010, { controllers: false })
    admin = restFor(cp.kubeconfig)
    await installCrd(admin)
    await ensureNamespace(admin, ns)
    // A CRD just made is updated by the API server's own controllers for a moment after it is established,
    // and each update starts its resources' storage (and watch cache) anew: a watch open then ends ("storage
    // is (re)initializing", 429), and its informer must list again. That is the API server's doing, once, and
    // slower on a busy machine; the operator starts once three watches in a row were served whole.
    let served = 0
    await waitFor('the resource\'s watch cache settled', async () => {
      const ok = await admin.request('GET', resourcePath(ns), { query: { watch: 'true', timeoutSeconds: 1 } }).then(() => true, (err: unknown) => {
        if (err instanceof ApiError && err.code === 429) return false
        throw err
      })
      served = ok ? served + 1 : 0
      return served >= 3
    }, 60_000, 100)
    operator = startOperator({ KUBECONFIG: cp.kubeconfig, WATCH_NAMESPACES: ns, LEADER_ELECTION: 'false', HTTP_PORT: '0', WATCH_SECONDS: String(WATCH_SECONDS) })
    await waitFor('the operator to have synced its informers', async () => {
      const port = operator.port()
      return port !== undefined && (await fetch(`http://127.0.0.1:${port}/readyz`)).ok
    })
  })

  afterAll(async () => {
    await operator?.kill('SIGTERM')
    cp?.stop()
  })

  it('renews each watch once per period from its resourceVersion, never relists, and still sees a change made after the renewals', async () => {
    const before = await requestCounts(admin)
    await sleep(PERIODS * WATCH_SECONDS * 1000)
    const after = await requestCounts(admin)
    const seen = WATCHED.map((r) => `${r}: ${delta(after, before, `WATCH ${r}`)} watches, ${delta(after, before, `LIST ${r}`)} lists`)
    process.stdout.write(`over ${PERIODS} periods of ${WATCH_SECONDS} s: ${seen.join('; ')}\n`)
    if (WATCHED.some((r) => delta(after, before, `LIST ${r}`) > 0)) process.stdout.write(`the operator said:\n${operator.logs().split('\n').filter((l) => /watch|list|informer/i.test(l)).slice(-15).join('\n')}\n`)
    for (const r of WATCHED) {
      // One per period, and one more for a period boundary at either end of the window.
      expect(delta(after, before, `WATCH ${r}`), `WATCH ${r} (${seen.join('; ')})`).toBeLessThanOrEqual(PERIODS + 2)
      expect(delta(after, before, `WATCH ${r}`), `WATCH ${r}: renewed`).toBeGreaterThanOrEqual(PERIODS - 2)
      expect(delta(after, before, `LIST ${r}`), `LIST ${r}: no relist`).toBe(0)
    }
    expect(operator.logs()).not.toMatch(/watch failed/)

    // A resource created now reaches the operator through the renewed watch:
    // it writes the status (Kafka is not needed for that; the broker named is closed).
    const res = { apiVersion: 'ridepulse.io/v1alpha1', kind: 'StatefulOperator', metadata: { name: 'late', namespace: ns }, spec: { kafka: { bootstrapServers: ['127.0.0.1:1'] } } }
    await admin.request('POST', resourcePath(ns), { body: res })
    await waitFor('the status of a resource created after the renewals', async () => {
      const r = await admin.get<{ status?: { observedGeneration?: number } }>(resourcePath(ns, 'late'))
      return r.status?.observedGeneration === 1
    }, 20_000)
    await admin.delete(resourcePath(ns, 'late'))
  })
})
