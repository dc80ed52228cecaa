import https from 'node:https'
import http from 'node:http'
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node'

/** The API server's answer to a failed request, with its status code and reason (Conflict, NotFound, Invalid…). */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** No kubeconfig and no in-cluster service account: there is no API server to talk to. */
export class NoClusterConfiguredError extends Error {
  constructor() {
    super('no Kubernetes API server configured: not running in a pod with a service account, KUBECONFIG is unset and there is no ~/.kube/config')
    this.name = 'NoClusterConfiguredError'
  }
}

export const isNotFound = (err: unknown) => err instanceof ApiError && err.code === 404
export const isConflict = (err: unknown) => err instanceof ApiError && err.code === 409

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>
  body?: unknown
  contentType?: string
  timeoutMs?: number
}

const APPLY = 'application/apply-patch+yaml'
const MERGE = 'application/merge-patch+json'

/**
 * A thin JSON client for the API server with the kubeconfig's credentials:
 * server-side apply, subresources and preconditions without the generated
 * clients' per-type methods.
 */
export class Rest {
  readonly kc: KubeConfig
  readonly #server: URL
  /** Connections are kept and reused: a TLS handshake per request would dominate a pass. */
  readonly #agent = new https.Agent({ keepAlive: true, maxSockets: 16 })

  /** From a kubeconfig file, or else the in-cluster service account or $KUBECONFIG. */
  static load(kubeconfigPath?: string): Rest {
    const kc = new KubeConfig()
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath)
    else {
      kc.loadFromDefault()
      // With nothing to load, the client falls back to plain HTTP on
      // localhost:8080, which it then refuses to use: say so up front.
      const c = kc.getCurrentCluster()
      if (c?.name === 'cluster' && c.server === 'http://localhost:8080') throw new NoClusterConfiguredError()
    }
    return new Rest(kc)
  }

  /** The current cluster's server and CA, for writing a kubeconfig of another identity. */
  get cluster(): { server: string; caData: string } {
    const c = this.kc.getCurrentCluster()
    return { server: c?.server ?? '', caData: c?.caData ?? '' }
  }

  constructor(kc: KubeConfig) {
    this.kc = kc
    const cluster = kc.getCurrentCluster()
    if (!cluster) throw new Error('kubeconfig has no current cluster')
    this.#server = new URL(cluster.server)
  }

  async request<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const url = new URL(path, this.#server)
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body))
    const opts: https.RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: `${url.pathname}${url.search}`,
      headers: {
        accept: 'application/json',
        ...(payload ? { 'content-type': o.contentType ?? 'application/json', 'content-length': payload.length } : {}),
      },
      timeout: o.timeoutMs ?? 30_000,
    }
    await this.kc.applyToHTTPSOptions(opts)
    if (url.protocol === 'https:') opts.agent = this.#agent
    const mod = url.protocol === 'http:' ? http : https
    return await new Promise<T>((resolve, reject) => {
      const req = mod.request(opts, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let body: unknown = text
          try {
            body = text ? JSON.parse(text) : undefined
          } catch {
            // not JSON: keep the text for the error message
          }
          const code = res.statusCode ?? 0
          if (code >= 200 && code < 300) return resolve(body as T)
          const status = body as { reason?: string; message?: string } | undefined
          reject(new ApiError(code, status?.reason ?? String(code), `${method} ${url.pathname}: ${status?.message ?? text}`, body))
        })
      })
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)))
      req.on('error', reject)
      if (payload) req.write(payload)
      req.end()
    })
  }

  get<T>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, { query })
  }

  /** Server-side apply with one field manager; conflicts with other managers are taken over. */
  apply<T extends KubernetesObject>(path: string, obj: T, fieldManager: string, extra: RequestOptions['query'] = {}): Promise<T> {
    return this.request<T>('PATCH', path, { body: obj, contentType: APPLY, query: { fieldManager, force: true, ...extra } })
  }

  mergePatch<T>(path: string, patch: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body: patch, contentType: MERGE })
  }

  delete(path: string, options: { uid?: string; gracePeriodSeconds?: number; propagationPolicy?: string } = {}): Promise<unknown> {
    return this.request('DELETE', path, {
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        ...(options.uid ? { preconditions: { uid: options.uid } } : {}),
        ...(options.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: options.gracePeriodSeconds } : {}),
        ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
      },
    })
  }
}

/** The REST path of an object, e.g. /api/v1/namespaces/ns/pods/name. */
export function objectPath(apiVersion: string, plural: string, namespace: string | undefined, name?: string): string {
  const prefix = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`
  return `${prefix}${namespace ? `/namespaces/${namespace}` : ''}/${plural}${name ? `/${name}` : ''}`
}
