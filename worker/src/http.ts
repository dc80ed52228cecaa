import { createServer, type Server, type ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'

export interface Probe {
  ready(): boolean
  status(): unknown
  /** Whether the process can do its work; /healthz answers 503 with the detail when not. */
  health?(): { ok: boolean; detail: string }
  /** `/standby/watch`: an OpB shard's owner beats here for its standby. */
  watch?(res: ServerResponse): void
  /**
   * `POST /standby/owner-gone?host=<address>`: the owner at that address is
   * gone (its pod deleted, seen by the operator before its process died);
   * a standby watching it takes the shard over at once. Whether it did.
   */
  ownerGone?(host: string): boolean
}

/** /healthz (503 when the process cannot do its work), /readyz (ready only after recovery), /status (JSON), /metrics. */
export function startHttp(port: number, registry: Registry, probe: Probe, host = '0.0.0.0'): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (code: number, body: string, type = 'text/plain') => {
      res.writeHead(code, { 'content-type': type })
      res.end(body)
    }
    switch (req.url?.split('?')[0]) {
      case '/healthz': {
        const h = probe.health?.() ?? { ok: true, detail: 'ok' }
        return send(h.ok ? 200 : 503, `${h.detail}\n`)
      }
      case '/readyz':
        return probe.ready() ? send(200, 'ready\n') : send(503, 'not ready\n')
      case '/standby/watch':
        if (probe.watch) return probe.watch(res)
        return send(404, 'not found\n')
      case '/standby/owner-gone': {
        if (!probe.ownerGone) return send(404, 'not found\n')
        if (req.method !== 'POST') return send(405, 'POST only\n')
        const host = new URL(req.url ?? '', 'http://x').searchParams.get('host') ?? ''
        return probe.ownerGone(host) ? send(200, 'taking the shard over\n') : send(409, `not standing by an owner at ${host}\n`)
      }
      case '/status':
        return send(200, JSON.stringify(probe.status(), null, 1), 'application/json')
      case '/metrics':
        registry.metrics().then(
          (m) => send(200, m, registry.contentType),
          (err: Error) => send(500, err.message),
        )
        return
      default:
        return send(404, 'not found\n')
    }
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}
