/**
 * What a harness (the demo, chaos, the benchmarks) has started: a broker,
 * worker processes, the board, a peer. Each start registers how to stop it;
 * the harness runs the steps when it ends, and on SIGINT or SIGTERM alike,
 * so that nothing it started outlives it.
 */

type Step = () => unknown

const steps = new Set<Step>()

/** Registers a step; the function returned forgets it (for what was stopped otherwise). */
export function onTeardown(step: Step): () => void {
  steps.add(step)
  return () => steps.delete(step)
}

/** Runs every registered step, the newest first, once each; a failing step does not stop the others. */
export async function runTeardown(): Promise<void> {
  for (const step of [...steps].reverse()) {
    steps.delete(step)
    try {
      await step()
    } catch (err) {
      process.stderr.write(`teardown: ${err instanceof Error ? err.message : String(err)}\n`)
    }
  }
}

/** SIGINT and SIGTERM stop everything registered, then end the process as the signal would have. */
export function stopOnSignals(): void {
  let stopping = false
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      if (stopping) return
      stopping = true
      process.stderr.write(`${signal}: stopping everything this run started …\n`)
      void runTeardown().finally(() => process.exit(code))
    })
  }
}
