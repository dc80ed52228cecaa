import { z } from 'zod'
import { AtLeastOnceProducer } from '@ridepulse/kafka'
import type { CommitPoint, WorkerHooks } from '@ridepulse/worker'

/**
 * The test-only settings of a worker under test, from its environment:
 *
 * - FAULT=`<point>:<n>`: kill -9 of the process itself at its n-th commit, at
 *   `before-commit`, `during-commit` or `after-commit` (see WorkerHooks).
 *   FAULT=`<point>:signal`: the same at the first commit to reach that point
 *   after the process is sent SIGUSR2 (a benchmark's kill in an open
 *   transaction, at a moment it chooses).
 * - DELIVERY=at-least-once: no transactions; each batch is sent as it comes
 *   and the input positions committed after it, the way an at-least-once
 *   pipeline usually runs. Only there to measure what exactly-once costs.
 */
const schema = z.object({
  FAULT: z
    .string()
    .regex(/^(before-commit|during-commit|after-commit):(\d+|signal)$/, 'must be before-commit|during-commit|after-commit:<commit number or signal>')
    .optional(),
  DELIVERY: z.enum(['exactly-once', 'at-least-once']).default('exactly-once'),
  SNAPSHOT_MODE: z.string().optional(),
}).refine((c) => c.SNAPSHOT_MODE !== 'checkpoint' || c.DELIVERY === 'exactly-once', {
  path: ['DELIVERY'],
  message: 'checkpoint mode has no changelog and relies on transactions: it needs DELIVERY=exactly-once',
})

export class TestHooksError extends Error {
  constructor(issues: string[]) {
    super(`invalid test settings:\n${issues.map((i) => `  ${i}`).join('\n')}`)
    this.name = 'TestHooksError'
  }
}

/** Whether an environment asks for a hook, that is for the worker under test rather than the shipped one. */
export const wantsTestHooks = (env: Record<string, string | undefined>): boolean => env.FAULT !== undefined || env.DELIVERY !== undefined

export function testHooks(env: Record<string, string | undefined>): WorkerHooks {
  const r = schema.safeParse(env)
  if (!r.success) throw new TestHooksError(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`))
  const hooks: WorkerHooks = {}
  if (r.data.FAULT) {
    const [point, n] = r.data.FAULT.split(':') as [CommitPoint, string]
    if (n === 'signal') {
      let armed = false
      process.on('SIGUSR2', () => (armed = true))
      hooks.commitPoint = (p) => {
        if (armed && p === point) process.kill(process.pid, 'SIGKILL')
      }
    } else {
      const at = Number(n)
      hooks.commitPoint = (p, commitNo) => {
        if (p === point && commitNo === at) process.kill(process.pid, 'SIGKILL')
      }
    }
  }
  if (r.data.DELIVERY === 'at-least-once') hooks.producer = (settings) => new AtLeastOnceProducer(settings)
  return hooks
}
