import { shardHealth, type ShardHealth } from './core/state.js'

/** Asks every shard's worker for its /status at an interval; the page gets their health from here. */
export class HealthPoller {
  readonly health = new Map<number, ShardHealth>()
  #timer: NodeJS.Timeout | undefined
  #busy = false

  constructor(
    private readonly urls: Map<number, string>,
    private readonly everyMs: number,
    private readonly onChange: (h: ShardHealth[]) => void,
  ) {}

  start(): void {
    void this.poll()
    this.#timer = setInterval(() => void this.poll(), this.everyMs)
  }

  async poll(): Promise<void> {
    if (this.#busy) return
    this.#busy = true
    try {
      const now = Date.now()
      const results = await Promise.all(
        [...this.urls].map(async ([shard, url]) => {
          try {
            const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(Math.max(200, this.everyMs - 50)) })
            return [shard, res.ok ? await res.json() : undefined, res.ok ? undefined : `HTTP ${res.status}`] as const
          } catch (err) {
            return [shard, undefined, err instanceof Error ? err.message : String(err)] as const
          }
        }),
      )
      let changed = false
      for (const [shard, status, error] of results) {
        const prev = this.health.get(shard)
        const next = shardHealth(shard, status, error, now, prev)
        if (JSON.stringify({ ...next, since: 0 }) !== JSON.stringify({ ...prev, since: 0 })) changed = true
        this.health.set(shard, next)
      }
      if (changed) this.onChange(this.list())
    } finally {
      this.#busy = false
    }
  }

  list(): ShardHealth[] {
    return [...this.health.values()].sort((a, b) => a.shard - b.shard)
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
  }
}
