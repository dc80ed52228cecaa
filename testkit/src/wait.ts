import { setTimeout as sleep } from 'node:timers/promises'

export interface WaitOptions {
  timeoutMs: number
  /** Between two checks; 50 ms unless given. */
  everyMs?: number
  /** What went wrong meanwhile (a process that died, say): ends the wait at once with it. */
  trouble?: () => string | undefined
  /** Added to the timeout's message: where things stood. */
  detail?: () => string
}

/** Checks until `done` holds; resolves to the time it first held. */
export async function waitUntil(what: string, done: () => boolean | Promise<boolean>, o: WaitOptions): Promise<number> {
  const deadline = Date.now() + o.timeoutMs
  for (;;) {
    if (await done()) return Date.now()
    const t = o.trouble?.()
    if (t) throw new Error(`${what}: ${t}`)
    if (Date.now() > deadline) throw new Error(`${what}: not within ${o.timeoutMs} ms${o.detail ? ` (${o.detail()})` : ''}`)
    await sleep(o.everyMs ?? 50)
  }
}
