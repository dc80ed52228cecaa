import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const TEARDOWN = fileURLToPath(new URL('./teardown.ts', import.meta.url))

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) if (check()) return true
  return check()
}

/** A harness (a Node process) that starts a child and registers stop commands, prints its pid and its child's, then `then`. */
function harness(dir: string, then: 'wait' | 'stop-and-exit') {
  const script = `
    import { spawn } from 'node:child_process'
    import { killIfOrphaned, stopIfOrphaned } from ${JSON.stringify(TEARDOWN)}
    const child = spawn('sleep', ['600'], { stdio: 'ignore' })
    killIfOrphaned(child)
    const stopped = stopIfOrphaned('touch ${join(dir, 'stopped')}')
    stopIfOrphaned('touch ${join(dir, 'forgotten')}')()
    console.log(process.pid, child.pid)
    if (${JSON.stringify(then)} === 'wait') setInterval(() => {}, 1000)
    else { child.kill('SIGKILL'); child.once('exit', () => { stopped(); process.exit(0) }) }
  `
  const p = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const pids = new Promise<[number, number]>((resolve) => createInterface({ input: p.stdout! }).once('line', (l) => resolve(l.split(' ').map(Number) as [number, number])))
  return { p, pids }
}

describe('a harness that dies where no handler runs', () => {
  let dir = ''
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('has what it started stopped by its watchdog', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ridepulse-orphans-test-'))
    const { p, pids } = harness(dir, 'wait')
    const [owner, child] = await pids
    expect(alive(child)).toBe(true)
    p.kill('SIGKILL')
    expect(await waitFor(() => !alive(child) && existsSync(join(dir, 'stopped')), 10_000)).toBe(true)
    expect(existsSync(join(dir, 'forgotten'))).toBe(false)
    expect(existsSync(join(tmpdir(), `ridepulse-orphans-${owner}.sh`))).toBe(false)
  })

  it('leaves nothing behind when it stopped everything itself', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ridepulse-orphans-test-'))
    const { p, pids } = harness(dir, 'stop-and-exit')
    const [owner] = await pids
    await new Promise((r) => p.once('exit', r))
    expect(existsSync(join(tmpdir(), `ridepulse-orphans-${owner}.sh`))).toBe(false)
    await new Promise((r) => setTimeout(r, 1500)) // a watchdog would have run by now
    expect(existsSync(join(dir, 'stopped'))).toBe(false)
  })
})
