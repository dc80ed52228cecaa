/**
 * The cluster as the test sees it: kubectl and helm run as a user runs them,
 * and a JSON client on the same kubeconfig for the reads a test repeats many
 * times a second (pods, the resource's status, a worker's /status through the
 * API server's pod proxy).
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node'
import type { PipelineStatus } from '@ridepulse/contracts'
import { ANNOTATION_NUDGED_AT, objectPath, Rest } from '@ridepulse/operator'

export const repoRoot = join(import.meta.dirname, '..', '..')

/** Runs a command; resolves with its stdout, rejects with its stderr's tail. */
export function run(cmd: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } })
    let out = ''
    let err = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr.on('data', (b: Buffer) => (err += b.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(out)
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${err.trim().split('\n').slice(-10).join('\n')}`))
    })
    child.stdin.end(opts.input ?? '')
  })
}

/**
 * kubectl and helm: E2E_KUBECTL / E2E_HELM, else the ones scripts/kube/build.sh
 * built (if it did), else whatever is on PATH.
 */
export function toolPaths(env: NodeJS.ProcessEnv): { kubectl: string; helm: string } {
  const built = execFileSync('bash', [join(repoRoot, 'scripts', 'kube', 'build.sh'), '--print'], { encoding: 'utf8' }).trim()
  const pick = (name: string, override: string | undefined): string => override || (existsSync(join(built, name)) ? join(built, name) : name)
  return { kubectl: pick('kubectl', env.E2E_KUBECTL), helm: pick('helm', env.E2E_HELM) }
}

export interface PodView {
  name: string
  uid: string
  ready: boolean
  restarts: number
  claim?: string
  ip?: string
  deleting: boolean
  /** When the operator last nudged the pod's kubelet (see the operator's NUDGE_AFTER_MS), if it did. */
  kubeletNudgedAt?: string
}

export const viewPod = (p: V1Pod): PodView => ({
  name: p.metadata?.name ?? '',
  uid: p.metadata?.uid ?? '',
  ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  restarts: (p.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
  claim: p.spec?.volumes?.find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim?.claimName,
  ip: p.status?.podIP,
  deleting: p.metadata?.deletionTimestamp !== undefined,
  kubeletNudgedAt: p.metadata?.annotations?.[ANNOTATION_NUDGED_AT],
})

export interface Resource {
  metadata: { name: string; namespace: string; uid: string }
  status?: PipelineStatus
}

export class Cluster {
  readonly rest: Rest

  constructor(
    readonly kubeconfig: string,
    readonly tools: { kubectl: string; helm: string },
  ) {
    this.rest = Rest.load(kubeconfig)
  }

  kubectl(args: string[], input?: string): Promise<string> {
    return run(this.tools.kubectl, ['--kubeconfig', this.kubeconfig, ...args], { input })
  }

  helm(args: string[]): Promise<string> {
    return run(this.tools.helm, ['--kubeconfig', this.kubeconfig, ...args])
  }

  async pods(ns: string, selector: string): Promise<PodView[]> {
    const list = await this.rest.get<{ items: V1Pod[] }>(objectPath('v1', 'pods', ns), { labelSelector: selector })
    return list.items.map(viewPod).sort((a, b) => a.name.localeCompare(b.name))
  }

  async claim(ns: string, name: string): Promise<{ uid: string; volume?: string }> {
    const c = await this.rest.get<V1PersistentVolumeClaim>(objectPath('v1', 'persistentvolumeclaims', ns, name))
    return { uid: c.metadata?.uid ?? '', volume: c.spec?.volumeName }
  }

  resource(ns: string, name: string): Promise<Resource> {
    return this.rest.get<Resource>(objectPath('ridepulse.io/v1alpha1', 'statefuloperators', ns, name))
  }

  /** A worker's /status, through the API server's pod proxy: works from outside any cluster network. */
  workerStatus<T>(ns: string, pod: string, port: number): Promise<T> {
    return this.rest.request<T>('GET', `${objectPath('v1', 'pods', ns, `${pod}:${port}`)}/proxy/status`, { timeoutMs: 3000 })
  }

  async hasResource(group: string, plural: string): Promise<boolean> {
    try {
      await this.rest.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.${group}`)
      return true
    } catch {
      return false
    }
  }
}
