/**
 * The per-second rate of a growing count over the last `windowMs`, from
 * samples of the count (one kept per second at most). Pure: the clock is
 * the caller's.
 */
export class RateOfCount {
  #samples: { at: number; count: number }[] = []

  constructor(readonly windowMs = 60_000) {}

  note(at: number, count: number): void {
    // Within a second of the sample before the newest, the newest is replaced: one sample per second is kept.
    const n = this.#samples.length
    if (n >= 2 && at - this.#samples[n - 2]!.at < 1000) this.#samples[n - 1] = { at, count }
    else this.#samples.push({ at, count })
    // One sample at or before the window's start stays, as the base.
    while (this.#samples.length > 2 && this.#samples[1]!.at <= at - this.windowMs) this.#samples.shift()
  }

  /** How many samples it holds: one per second of the window, and the base. */
  get sampleCount(): number {
    return this.#samples.length
  }

  /** Per second over the samples' span (up to the window); 0 before two samples. A count that went down (a restart) counts from there. */
  perSecond(): number {
    const first = this.#samples[0]
    const last = this.#samples.at(-1)
    if (!first || !last || last.at <= first.at) return 0
    return Math.max(0, last.count - first.count) / ((last.at - first.at) / 1000)
  }
}
