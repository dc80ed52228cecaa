import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SCRIPT = fileURLToPath(new URL('../../../scripts/kafka/kafka.sh', import.meta.url))

/** Starts the project's local broker (fetching it on first use) on a fresh data directory. */
export function startLocalKafka(port: number): { brokers: string; stop(): void } {
  const data = mkdtempSync(join(tmpdir(), 'ridepulse-kafka-'))
  const args = ['--port', String(port), '--data', data]
  const out = execFileSync('bash', [SCRIPT, 'start', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  return {
    brokers: out.trim().split('\n').at(-1)!,
    stop: () => execFileSync('bash', [SCRIPT, 'stop', ...args], { stdio: 'inherit' }),
  }
}
