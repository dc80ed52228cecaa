import type { PipelineStatus } from '@ridepulse/contracts'
import { healthFromResource, shardHealth, type ShardHealth } from './core/state.js'

/** Reads every shard's health once; `prev` holds the last answer of each shard. */
export type HealthSource = (nowMs: number, prev: Map<number, ShardHealth>) => Promise<ShardHealth[]>

/** Each worker's own /status (local runs, or a board beside the pods). */
export function workersSource(urls: Map<number, string>, timeoutMs: number): HealthSource {
  return async (now, prev) =>
    await Promise.all(
      [...urls].map(async ([shard, url]) => {
        try {
          const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(timeoutMs) })
          return shardHealth(shard, res.ok ? await res.json() : undefined, res.ok ? undefined : `HTTP ${res.status}`, now, prev.get(shard))
        } catch (err) {
          return shardHealth(shard, undefined, err instanceof Error ? err.message : String(err), now, prev.get(shard))
        }
      }),
    )
}

/** The StatefulOperator's status, as the operator records it (on Kubernetes). */
export function kubernetesSource(readStatus: () => Promise<Partial<PipelineStatus> | undefined>): HealthSource {
  return async (now, prev) => {
    const st = await readStatus()
    return healthFromResource(st?.shards ?? [], now, prev, st?.standbys ?? [])
  }
}

/** Asks the source at an interval; the page hears about changes only. */
export class HealthPoller {
  readonly health = new Map<number, ShardHealth>()
  #timer: NodeJS.Timeout | undefined
  #busy = false
  lastError: string | undefined

  constructor(
    private readonly source: HealthSource,
    private readonly everyMs: number,
    private readonly onChange: (h: ShardHealth[]) => void,
    private readonly onError: (message: string) => void = () => undefined,
  ) {}

  start(): void {
    void this.poll()
    this.#timer = setInterval(() => void this.poll(), this.everyMs)
  }

  async poll(): Promise<void> {
    if (this.#busy) return
    this.#busy = true
    try {
      const next = await this.source(Date.now(), this.health)
      this.lastError = undefined
      let changed = next.length !== this.health.size
      for (const h of next) {
        const prev = this.health.get(h.shard)
        if (JSON.stringify({ ...h, since: 0 }) !== JSON.stringify({ ...prev, since: 0 })) changed = true
        this.health.set(h.shard, h)
      }
      if (changed) this.onChange(this.list())
    } catch (err) {
      // The source itself failed (the API server unreachable): keep the last view and say so once.
      const message = err instanceof Error ? err.message : String(err)
      if (message !== this.lastError) this.onError(message)
      this.lastError = message
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
