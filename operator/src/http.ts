import { createServer, type Server } from 'node:http'
import type { Registry } from 'prom-client'

export interface OperatorProbe {
  /** Alive: the process answers. Ready: a leader with synced informers, or a standby waiting on the lease. */
  ready(): boolean
  status(): unknown
}

/** /healthz, /readyz, /status (JSON: leadership, queue), /metrics. */
export function startHttp(port: number, registry: Registry, probe: OperatorProbe): Promise<Server> {
  const server = createServer((req, res): void => {
    const reply = (code: number, body: string, type = 'text/plain') => void res.writeHead(code, { 'content-type': type }).end(body)
    const path = req.url?.split('?')[0]
    if (path === '/healthz') return reply(200, 'ok\n')
    if (path === '/readyz') return probe.ready() ? reply(200, 'ready\n') : reply(503, 'not ready\n')
    if (path === '/status') return reply(200, `${JSON.stringify(probe.status())}\n`, 'application/json')
    if (path !== '/metrics') return reply(404, 'not found\n')
    void registry.metrics().then(
      (m) => reply(200, m, registry.contentType),
      (err: Error) => reply(500, err.message),
    )
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '0.0.0.0', () => resolve(server))
  })
}

/** GET a worker's /status as JSON, with a short timeout. */
export async function fetchJson(url: string, timeoutMs: number): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`)
  return await res.json()
}
