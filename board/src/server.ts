import { readFileSync } from 'node:fs'
import { createServer, type ServerResponse, type Server } from 'node:http'
import { join } from 'node:path'
import type { Registry } from 'prom-client'
import type { BoardState, ShardHealth } from './core/state.js'

const PUBLIC = join(import.meta.dirname, '..', 'public')
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' }
/** The page and its modules, read once: the board fetches nothing from elsewhere. */
const ASSETS = new Map(['index.html', 'board.js', 'hot.js', 'board.css'].map((f) => [`/${f === 'index.html' ? '' : f}`, { body: readFileSync(join(PUBLIC, f)), type: TYPES[f.slice(f.lastIndexOf('.'))]! }]))

export interface BoardSources {
  state: BoardState
  shards: () => ShardHealth[]
  ready: () => boolean
  registry: Registry
  onClients: (n: number) => void
}

/**
 * The page, its live feed (Server-Sent Events: a `snapshot` on connect, then
 * `cells` and `shards` as they change; the browser's EventSource reconnects
 * by itself and gets a fresh snapshot), and the service endpoints.
 */
export class BoardServer {
  readonly #clients = new Set<ServerResponse>()
  #seq = 0
  #server: Server | undefined
  #timers: NodeJS.Timeout[] = []

  constructor(private readonly src: BoardSources) {}

  listen(port: number, host: string, pushEveryMs: number): Promise<Server> {
    const server = createServer((req, res) => {
      const path = req.url?.split('?')[0] ?? '/'
      const asset = ASSETS.get(path)
      if (asset) {
        res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' })
        return void res.end(asset.body)
      }
      switch (path) {
        case '/events':
          return this.#subscribe(res)
        case '/api/state':
          res.writeHead(200, { 'content-type': 'application/json' })
          return void res.end(JSON.stringify(this.#snapshot()))
        case '/healthz':
          return void res.writeHead(200).end('ok\n')
        case '/readyz':
          return void (this.src.ready() ? res.writeHead(200).end('ready\n') : res.writeHead(503).end('catching up\n'))
        case '/metrics':
          return void this.src.registry.metrics().then(
            (m) => res.writeHead(200, { 'content-type': this.src.registry.contentType }).end(m),
            (err: Error) => res.writeHead(500).end(err.message),
          )
        default:
          return void res.writeHead(404).end('not found\n')
      }
    })
    this.#timers.push(
      setInterval(() => {
        const changes = this.src.state.takeChanges()
        if (changes.length > 0) this.#broadcast('cells', changes)
      }, pushEveryMs),
      setInterval(() => {
        for (const c of this.#clients) c.write(': keep-alive\n\n')
      }, 15_000),
    )
    this.#server = server
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve(server))
    })
  }

  /** Shard health changed: every page hears it at once. */
  shardsChanged(shards: ShardHealth[]): void {
    this.#broadcast('shards', shards)
  }

  #snapshot() {
    return { cells: this.src.state.cells(), shards: this.src.shards(), serverTime: Date.now() }
  }

  #subscribe(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    res.write('retry: 1000\n\n')
    this.#send(res, 'snapshot', this.#snapshot())
    this.#clients.add(res)
    this.src.onClients(this.#clients.size)
    res.on('close', () => {
      this.#clients.delete(res)
      this.src.onClients(this.#clients.size)
    })
  }

  #send(res: ServerResponse, event: string, data: unknown): void {
    res.write(`id: ${++this.#seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  }

  #broadcast(event: string, data: unknown): void {
    for (const c of this.#clients) this.#send(c, event, data)
  }

  close(): void {
    for (const t of this.#timers) clearInterval(t)
    for (const c of this.#clients) c.end()
    this.#server?.close()
  }
}
