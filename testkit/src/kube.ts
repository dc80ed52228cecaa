/**
 * What the operator's integration tests, its benchmark and the end-to-end
 * test share: a client
 * for the real API server, the operator as a real process, and the parts of
 * a kubelet's job a test does by hand (writing a pod's status), since no
 * kubelet runs against the test API server.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { API_VERSION, PLURAL } from '@ridepulse/contracts'
import { objectPath, Rest } from '@ridepulse/operator'
import { sleep } from './pipeline.js'
import { killIfOrphaned } from './teardown.js'

export const repoRoot = join(import.meta.dirname, '..', '..')
export const operatorMain = join(repoRoot, 'operator', 'dist', 'main.js')
export const crdFile = join(repoRoot, 'crds', 'statefuloperators.ridepulse.io.yaml')

export const restFor = (kubeconfig: string): Rest => Rest.load(kubeconfig)


export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await sleep(everyMs)
  }
}

/** Applies every object of a YAML file or string with server-side apply (as kubectl apply --server-side). */
/** Every document of a YAML stream as plain JSON objects (keys untouched). */
export function loadAllYaml(yaml: string): KubernetesObject[] {
  return parseAllDocuments(yaml).map((d) => d.toJSON() as KubernetesObject).filter((o) => o?.kind)
}

export async function applyYaml(rest: Rest, yaml: string, namespace?: string, manager = 'ridepulse-tests', query: Record<string, string> = {}): Promise<void> {
  for (const o of loadAllYaml(yaml)) {
    if (!o?.kind) continue
    const plural = await pluralOf(rest, o.apiVersion ?? 'v1', o.kind)
    const ns = plural.namespaced ? (o.metadata?.namespace ?? namespace) : undefined
    await rest.apply(objectPath(o.apiVersion ?? 'v1', plural.name, ns, o.metadata?.name), o, manager, query)
  }
}

const plurals = new Map<string, { name: string; namespaced: boolean }>()
async function pluralOf(rest: Rest, apiVersion: string, kind: string) {
  const k = `${apiVersion}/${kind}`
  const hit = plurals.get(k)
  if (hit) return hit
  const list = await rest.get<{ resources: { name: string; kind: string; namespaced: boolean }[] }>(apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`)
  const r = list.resources.find((x) => x.kind === kind && !x.name.includes('/'))
  if (!r) throw new Error(`no resource for ${k}`)
  plurals.set(k, { name: r.name, namespaced: r.namespaced })
  return plurals.get(k)!
}

export async function ensureNamespace(rest: Rest, name: string): Promise<void> {
  await rest.apply(objectPath('v1', 'namespaces', undefined, name), { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, 'ridepulse-tests')
}

export async function installCrd(rest: Rest): Promise<void> {
  const { readFileSync } = await import('node:fs')
  await applyYaml(rest, readFileSync(crdFile, 'utf8'))
  await waitFor('the CRD to be served', async () => {
    const crd = await rest.get<{ status?: { conditions?: { type: string; status: string }[] } }>('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/statefuloperators.ridepulse.io')
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
  })
  // Established comes before the API server's discovery lists the group: a
  // client that resolves the kind through discovery right away gets a 404.
  await waitFor('the CRD in discovery', async () => (await rest.get<{ resources: { name: string }[] }>(`/apis/${API_VERSION}`)).resources.some((r) => r.name === PLURAL))
}

export const resourcePath = (ns: string, name?: string) => objectPath(API_VERSION, PLURAL, ns, name)

/** Writes a pod's status as a kubelet would once its container is up and its readiness probe passes. */
export async function markPodReady(rest: Rest, ns: string, name: string, ip = '127.0.0.1'): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
  await rest.mergePatch(`${objectPath('v1', 'pods', ns, name)}/status`, {
    status: {
      phase: 'Running',
      podIP: ip,
      conditions: [
        { type: 'Ready', status: 'True', lastTransitionTime: now },
        { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
      ],
      containerStatuses: [{ name: 'opb', ready: true, restartCount: 0, image: 'x', imageID: '', started: true, state: { running: { startedAt: now } } }],
    },
  })
}

export async function listPods(rest: Rest, ns: string, selector: string): Promise<V1Pod[]> {
  return (await rest.get<{ items: V1Pod[] }>(objectPath('v1', 'pods', ns), { labelSelector: selector })).items
}

export interface OperatorProcess {
  child: ChildProcess
  logs: () => string
  /** The port of its /healthz, /readyz, /status and /metrics, once it serves. */
  port: () => number | undefined
  kill: (signal?: NodeJS.Signals) => Promise<void>
}

/** The operator, built, as a process of its own. */
export function startOperator(env: Record<string, string>): OperatorProcess {
  let out = ''
  const child = spawn(process.execPath, [operatorMain], {
    env: { PATH: process.env.PATH, LEASE_DURATION_MS: '3000', LEASE_RENEW_DEADLINE_MS: '2000', LEASE_RETRY_PERIOD_MS: '300', LOG_LEVEL: 'info', TOPIC_CHECK_EVERY_MS: '5000', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  killIfOrphaned(child)
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()))
  return {
    child,
    logs: () => out,
    port: () => {
      const m = /"port":(\d+),"msg":"serving/.exec(out)
      return m ? Number(m[1]) : undefined
    },
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const gone = new Promise((r) => child.once('exit', r))
      child.kill(signal)
      await gone
    },
  }
}

/**
 * A kubeconfig for a ServiceAccount, with a token from the TokenRequest API:
 * what the operator's pod would mount, for running it with the chart's RBAC.
 */
export async function serviceAccountKubeconfig(rest: Rest, ns: string, sa: string, file: string): Promise<string> {
  const tr = await rest.request<{ status: { token: string } }>('POST', `${objectPath('v1', 'serviceaccounts', ns, sa)}/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  })
  const { server, caData } = rest.cluster
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{ name: c, cluster: { server: "${server}", certificate-authority-data: "${caData}" } }]`,
      `users: [{ name: ${sa}, user: { token: "${tr.status.token}" } }]`,
      `contexts: [{ name: c, context: { cluster: c, user: ${sa}, namespace: ${ns} } }]`,
      'current-context: c',
    ].join('\n'),
    { mode: 0o600 },
  )
  return file
}

/**
 * A real, throwaway control plane (etcd, kube-apiserver and, unless
 * `controllers` is false, kube-controller-manager's garbage collector,
 * StatefulSet, PVC protection and namespace controllers:
 * scripts/kube/control-plane.sh) on `port` (etcd on the next two), with its
 * admin kubeconfig.
 */
export function startControlPlane(port: number, o: { controllers?: boolean } = {}): { kubeconfig: string; stop(): void } {
  const script = join(repoRoot, 'scripts', 'kube', 'control-plane.sh')
  const dir = mkdtempSync(join(tmpdir(), 'ridepulse-kube-test-'))
  const args = ['--port', String(port), '--dir', dir]
  const out = execFileSync('bash', [script, 'start', ...args, ...(o.controllers === false ? ['--no-controllers'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  return {
    kubeconfig: out.trim().split('\n').at(-1)!,
    stop: () => {
      execFileSync('bash', [script, 'stop', ...args], { stdio: 'inherit' })
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The helm binary built by scripts/kube/build.sh, run with a kubeconfig; its output, or a throw carrying it. */
export function helm(kubeBin: string, kubeconfig: string, args: string[]): string {
  return execFileSync(join(kubeBin, 'helm'), [...args, '--kubeconfig', kubeconfig], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Renders the chart with helm (built by scripts/kube/build.sh). */
export function helmTemplate(kubeBin: string, namespace: string, sets: string[] = []): string {
  return execFileSync(join(kubeBin, 'helm'), ['template', 'ridepulse', join(repoRoot, 'helm', 'ridepulse-operator'), '--namespace', namespace, '--kube-version', '1.31.4', ...sets.flatMap((s) => ['--set', s])], { encoding: 'utf8' })
}

/** A TCP port on the loopback address that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0))
    })
  })
}
