/** Delay before the n-th retry of a failing key: 200 ms doubling to a minute. */
export const retryDelayMs = (failures: number): number => Math.min(60_000, 200 * 2 ** Math.max(0, failures - 1))

export type Handler = (key: string) => Promise<{ requeueAfterMs?: number }>

/**
 * A work queue keyed by resource, as controllers use: a key is processed by
 * one worker at a time, a key added while it is processed runs again after,
 * failures are retried with a per-key growing delay, and a successful pass
 * may ask to run again later.
 */
export class WorkQueue {
  readonly #queued = new Set<string>()
  readonly #active = new Set<string>()
  readonly #dirty = new Set<string>()
  readonly #failures = new Map<string, number>()
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>()
  readonly #waiters: (() => void)[] = []
  #stopped = false

  constructor(
    private readonly handler: Handler,
    private readonly onError: (key: string, err: unknown, retryInMs: number) => void,
    private readonly concurrency = 2,
  ) {}

  add(key: string): void {
    if (this.#stopped) return
    if (this.#active.has(key)) {
      this.#dirty.add(key)
      return
    }
    this.#queued.add(key)
    this.#wakeAll()
  }

  /** Adds the key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return
    const at = Date.now() + ms
    const t = this.#timers.get(key)
    if (t && t.at <= at) return
    if (t) clearTimeout(t.timer)
    const timer = setTimeout(() => {
      this.#timers.delete(key)
      this.add(key)
    }, ms)
    timer.unref()
    this.#timers.set(key, { at, timer })
  }

  get length(): number {
    return this.#queued.size
  }

  async run(): Promise<void> {
    const workers = Array.from({ length: this.concurrency }, () => this.#worker())
    await Promise.all(workers)
  }

  stop(): void {
    this.#stopped = true
    for (const t of this.#timers.values()) clearTimeout(t.timer)
    this.#timers.clear()
    this.#wakeAll()
  }

  #wakeAll(): void {
    for (const w of this.#waiters.splice(0)) w()
  }

  async #next(): Promise<string | undefined> {
    while (!this.#stopped) {
      for (const k of this.#queued) {
        if (this.#active.has(k)) continue
        this.#queued.delete(k)
        return k
      }
      await new Promise<void>((r) => this.#waiters.push(r))
    }
    return undefined
  }

  async #worker(): Promise<void> {
    for (let key = await this.#next(); key !== undefined; key = await this.#next()) {
      this.#active.add(key)
      try {
        const r = await this.handler(key)
        this.#failures.delete(key)
        if (r.requeueAfterMs !== undefined) this.addAfter(key, r.requeueAfterMs)
      } catch (err) {
        const n = (this.#failures.get(key) ?? 0) + 1
        this.#failures.set(key, n)
        const delay = retryDelayMs(n)
        this.onError(key, err, delay)
        this.addAfter(key, delay)
      } finally {
        this.#active.delete(key)
        if (this.#dirty.delete(key)) this.add(key)
        // another worker may be waiting for a key this one held
        this.#wakeAll()
      }
    }
  }
}
