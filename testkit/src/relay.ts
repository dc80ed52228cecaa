import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP relay to `target` (host:port) on an address of its own: the same
 * server reached by another address (one its certificate does not name), or
 * reached through a link a test can cut (`pause`) and restore (`resume`).
 */
export class TcpRelay {
  readonly #sockets = new Set<Socket>()
  #server: Server | undefined
  #port = 0

  private constructor(
    private readonly target: { host: string; port: number },
    private readonly host: string,
  ) {}

  static async start(target: string, host = '127.0.0.1'): Promise<TcpRelay> {
    const i = target.lastIndexOf(':')
    const relay = new TcpRelay({ host: target.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(target.slice(i + 1)) }, host)
    await relay.resume()
    return relay
  }

  /** host:port of the relay. */
  get address(): string {
    return `${this.host}:${this.#port}`
  }

  /** Cuts every connection and refuses new ones, as a server that went away. */
  async pause(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** Accepts connections again, on the same port. */
  async resume(): Promise<void> {
    if (this.#server) return
    const server = createServer((inbound) => {
      const outbound = connect(this.target.port, this.target.host)
      for (const s of [inbound, outbound]) {
        this.#sockets.add(s)
        s.on('error', () => (inbound.destroy(), outbound.destroy()))
        s.on('close', () => this.#sockets.delete(s))
      }
      inbound.pipe(outbound).pipe(inbound)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#port, this.host, () => resolve())
    })
    const a = server.address()
    this.#port = typeof a === 'object' && a ? a.port : this.#port
    this.#server = server
  }

  close(): Promise<void> {
    return this.pause()
  }
}
