#!/usr/bin/env node
/**
 * The chart's hooks, run in the operator's image with its ServiceAccount:
 *
 *   chart-hooks.js test                       `helm test`: the operator answers
 *                                             (OPERATOR_URL/readyz) and the API server
 *                                             serves the StatefulOperator resource
 *   chart-hooks.js delete <namespace>/<name>  `helm uninstall` (pre-delete): deletes
 *                                             a resource the chart made and waits until
 *                                             it is gone, while the operator still runs
 *                                             to release its claims and its finalizer
 *
 * Prints what it checked; exits 1 with the reason when something is wrong.
 * HOOK_TIMEOUT_SECONDS bounds each wait (default: 60 for the test, 180 for
 * the deletion).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { API_VERSION, GROUP, PLURAL, VERSION } from '@ridepulse/contracts'
import { isNotFound, objectPath, Rest } from './kube/rest.js'

const say = (line: string) => process.stdout.write(`${line}\n`)
const timeoutMs = (fallbackSeconds: number) => (Number(process.env.HOOK_TIMEOUT_SECONDS) || fallbackSeconds) * 1000

/** Polls `probe` every half second until it gives an answer, or fails after `timeoutMs` with the last error. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  let last: unknown
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(500)) {
    try {
      const v = await probe()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
  }
  throw new Error(`${what}: no answer within ${timeoutMs / 1000} s${last ? ` (${last instanceof Error ? last.message : String(last)})` : ''}`)
}

async function test(rest: Rest, operatorUrl: string): Promise<void> {
  // The chart builds it from the metrics Service's variables; unexpanded, the Service did not exist when the pod was made.
  if (!operatorUrl || operatorUrl.includes('$(')) throw new Error(`OPERATOR_URL is not an address ("${operatorUrl}"): the operator's metrics Service must exist before the test pod`)
  const ready = await until(`${operatorUrl}/readyz`, async () => {
    const r = await fetch(`${operatorUrl}/readyz`, { signal: AbortSignal.timeout(3000) })
    return r.ok ? r.status : undefined
  }, timeoutMs(60))
  say(`the operator answers: ${operatorUrl}/readyz ${ready}`)
  const status = (await (await fetch(`${operatorUrl}/status`, { signal: AbortSignal.timeout(3000) })).json()) as Record<string, unknown>
  say(`its status: ${JSON.stringify(status)}`)
  const discovery = await rest.get<{ resources: { name: string; kind: string }[] }>(`/apis/${GROUP}/${VERSION}`)
  const served = discovery.resources.find((r) => r.name === PLURAL)
  if (!served) throw new Error(`the API server does not serve ${PLURAL}.${GROUP}/${VERSION} (is the CRD installed?)`)
  say(`the API server serves ${API_VERSION} ${served.kind}`)
}

async function deleteResource(rest: Rest, ref: string): Promise<void> {
  const [namespace, name] = ref.split('/')
  if (!namespace || !name) throw new Error(`expected <namespace>/<name>, got "${ref}"`)
  const path = objectPath(API_VERSION, PLURAL, namespace, name)
  try {
    await rest.delete(path)
  } catch (err) {
    if (!isNotFound(err)) throw err
    say(`${ref}: already gone`)
    return
  }
  const started = Date.now()
  await until(`${ref} to be gone (the operator removes its finalizer)`, async () => rest.get(path).then(() => undefined, (err: unknown) => {
    if (isNotFound(err)) return true
    throw err
  }), timeoutMs(180))
  say(`${ref}: deleted in ${Date.now() - started} ms`)
}

const [command, arg] = process.argv.slice(2)
try {
  const rest = Rest.load(process.env.KUBECONFIG || undefined)
  if (command === 'test') await test(rest, (process.env.OPERATOR_URL ?? '').replace(/\/$/, ''))
  else if (command === 'delete' && arg) await deleteResource(rest, arg)
  else throw new Error('usage: chart-hooks.js test | delete <namespace>/<name>')
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}
