import { request, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Announcement } from './standby.js'

/**
 * The watch between a shard's owner and its standbys (docs/design.md,
 * "Standby shards"): the owner's side, a line of watchers that beat with
 * their rank, and the standby's side, which resolves when the owner dies.
 */

/**
 * The active's side of the watch: a beat per heartbeat until the connection
 * or the process ends. Each beat carries the watcher's rank, its place among
 * the watches open, oldest first: when the owner dies, only rank 0 takes the
 * shard at once. A pod recreated while its old container still runs stands
 * by that dying owner too, behind the pair's standby, and so leaves the
 * shard to it instead of fencing it.
 */
export class Watchers {
  readonly #open: ServerResponse[] = []

  get count(): number {
    return this.#open.length
  }

  /** The owner is stopping: each watcher is told so and its watch ended, so that the first in line takes the shard at once. */
  endAll(): void {
    for (const res of [...this.#open]) res.end(`${STOPPING_LINE}\n`)
  }

  serve(res: ServerResponse, incarnation: string, heartbeatMs: number): void {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-ridepulse-incarnation': incarnation, 'cache-control': 'no-store' })
    res.socket?.setNoDelay(true)
    this.#open.push(res)
    const beat = () => res.write(`${Date.now()} ${this.#open.indexOf(res)}\n`)
    beat()
    const timer = setInterval(beat, heartbeatMs)
    res.on('close', () => {
      clearInterval(timer)
      this.#open.splice(this.#open.indexOf(res), 1)
    })
  }
}

/** The rank in the last whole beat line of `text` (`<ms> <rank>`); a beat without one (an older owner) ranks 0. */
export function lastRank(text: string): number | undefined {
  const lines = text.split('\n')
  for (let i = lines.length - 2; i >= 0; i--) {
    const parts = lines[i]!.trim().split(' ')
    if (parts[0] === '' || parts[0] === STOPPING_LINE) continue
    const rank = Number(parts[1] ?? 0)
    return Number.isInteger(rank) && rank >= 0 ? rank : undefined
  }
  return undefined
}

export type DeathReason = 'stopped' | 'deleted' | 'connection-closed' | 'silent' | 'unreachable' | 'not-active'

/** The owner's last line on a watch when it is told to stop: the shard is the standby's from now. */
export const STOPPING_LINE = 'stopping'

interface WatchResult {
  /** The watch was answered by the announced active and beat. */
  live: boolean
  /** This watcher's rank at the last beat (0: the first in line to take the shard). */
  rank: number
  reason?: DeathReason
  detail?: string
}

/**
 * Holds `/standby/watch` open to the announced active. `alive` resolves once
 * the first beat arrives (false when the active cannot be reached within
 * `connectMs`); `dead` resolves when it stops: the connection ended (a
 * process death, reported by the kernel at once), no beat for a lease (a
 * node gone quiet), or the address answers as something other than that
 * active.
 */
export class ActiveWatch {
  readonly alive: Promise<boolean>
  readonly dead: Promise<WatchResult>
  #req: ClientRequest | undefined
  #timer: NodeJS.Timeout | undefined
  #lastBeat = 0
  #rank = 0
  #partial = ''
  #closed = false
  readonly #end: (reason: DeathReason, detail: string) => void

  constructor(readonly active: Announcement, leaseMs: number, connectMs: number) {
    let resolveAlive!: (v: boolean) => void
    let resolveDead!: (v: WatchResult) => void
    this.alive = new Promise((r) => (resolveAlive = r))
    this.dead = new Promise((r) => (resolveDead = r))
    let connected = false
    const end = (reason: DeathReason, detail: string) => {
      if (this.#closed) return
      this.#closed = true
      clearInterval(this.#timer)
      this.#req?.destroy()
      resolveAlive(false)
      resolveDead({ live: connected, rank: this.#rank, reason, detail })
    }
    this.#end = end
    const started = Date.now()
    this.#req = request({ host: active.host, port: active.port, path: '/standby/watch', agent: false, timeout: connectMs }, (res: IncomingMessage) => {
      if (res.statusCode !== 200 || res.headers['x-ridepulse-incarnation'] !== active.incarnation) {
        res.resume()
        end('not-active', `${active.host}:${active.port} answered ${res.statusCode} as ${String(res.headers['x-ridepulse-incarnation'] ?? 'no incarnation')}, not the announced ${active.incarnation}`)
        return
      }
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        this.#lastBeat = Date.now()
        const text = this.#partial + chunk
        this.#rank = lastRank(text) ?? this.#rank
        this.#partial = text.slice(text.lastIndexOf('\n') + 1)
        if (text.includes(`${STOPPING_LINE}\n`)) end('stopped', 'the active is stopping and ended the watch')
        if (!connected) {
          connected = true
          this.#req?.setTimeout(0)
          resolveAlive(true)
        }
      })
      res.on('end', () => end('connection-closed', 'the active ended the watch'))
      res.on('error', (err) => end('connection-closed', err.message))
      res.on('close', () => end('connection-closed', 'the connection to the active closed'))
    })
    this.#req.on('timeout', () => end(connected ? 'silent' : 'unreachable', `no answer from ${active.host}:${active.port} within ${connectMs} ms`))
    this.#req.on('error', (err) => end(connected ? 'connection-closed' : 'unreachable', err.message))
    this.#req.end()
    this.#timer = setInterval(() => {
      const now = Date.now()
      if (connected && now - this.#lastBeat > leaseMs) end('silent', `no beat from the active for ${now - this.#lastBeat} ms`)
      else if (!connected && now - started > connectMs) end('unreachable', `no beat from ${active.host}:${active.port} within ${connectMs} ms`)
    }, Math.max(10, Math.min(50, Math.floor(leaseMs / 4))))
  }

  /** The owner is known to be gone by other means (its pod deleted): the watch ends as its death would. */
  ownerGone(detail: string): void {
    this.#end('deleted', detail)
  }

  /** This watcher's place in the owner's line, as of the last beat. */
  get rank(): number {
    return this.#rank
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    this.#req?.destroy()
  }
}
