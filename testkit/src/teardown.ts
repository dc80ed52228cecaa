/**
 * What a harness (the demo, chaos, the benchmarks) has started: a broker,
 * worker processes, the board, a peer. Each start registers how to stop it;
 * the harness runs the steps when it ends, and on SIGINT or SIGTERM alike,
 * so that nothing it started outlives it.
 */

import { spawn } from 'node:child_process'
import { renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

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

// ---------------------------------------------------------------- a harness that dies

/**
 * A harness can die where no handler runs (out of memory, SIGKILL): what it
 * started would live on, holding ports and cores. So each start also writes
 * a shell command that stops it into a file of this process, and a watchdog
 * (a detached shell, started with the first command) runs the file's
 * commands once this process is gone. Stopping a thing the usual way takes
 * its command out; a harness that ends with nothing left leaves no file,
 * and the watchdog ends with it.
 */
const orphanCommands = new Map<number, string>()
let nextCommand = 0
let ledger: string | undefined

const WATCHDOG = `
owner=$1 ledger=$2
while kill -0 "$owner" 2>/dev/null; do
  [ -f "$ledger" ] || exit 0
  sleep 1
done
[ -f "$ledger" ] || exit 0
echo "ridepulse: process $owner ended without stopping what it started; stopping it now" >&2
bash "$ledger" >&2 || true
rm -f "$ledger"
`

function writeLedger(): void {
  if (ledger === undefined) {
    if (orphanCommands.size === 0) return
    ledger = join(tmpdir(), `ridepulse-orphans-${process.pid}.sh`)
    writeFileSync(ledger, '')
    spawn('bash', ['-c', WATCHDOG, 'watchdog', String(process.pid), ledger], { detached: true, stdio: 'ignore' }).unref()
    // Left behind only when something is still running: the watchdog stops it.
    process.on('exit', () => {
      if (orphanCommands.size === 0 && ledger) rmSync(ledger, { force: true })
    })
  }
  writeFileSync(`${ledger}.tmp`, [...orphanCommands.values()].map((c) => `${c}\n`).join(''))
  renameSync(`${ledger}.tmp`, ledger)
}

/** `command` (a shell command) runs if this process dies before the function returned is called. */
export function stopIfOrphaned(command: string): () => void {
  const id = nextCommand++
  orphanCommands.set(id, command)
  writeLedger()
  return () => {
    if (orphanCommands.delete(id)) writeLedger()
  }
}

/** A child process killed (SIGKILL) if this process dies while it runs. */
export function killIfOrphaned(child: { pid?: number | undefined; once(event: 'exit', listener: () => void): unknown }): void {
  if (child.pid === undefined) return
  const forget = stopIfOrphaned(`kill -9 ${child.pid} 2>/dev/null`)
  child.once('exit', forget)
}
