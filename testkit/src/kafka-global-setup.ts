import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'

const script = join(import.meta.dirname, '..', '..', 'scripts', 'kafka', 'kafka.sh')

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string
    kafkaScript: string
    kafkaPort: number
    kafkaData: string
  }
}

/** One real broker for the integration tests, on a fresh data directory and port. */
export default function setup(project: TestProject) {
  const port = 19500 + Math.floor(Math.random() * 400) * 2
  const data = mkdtempSync(join(tmpdir(), 'ridepulse-kafka-test-'))
  const args = ['--port', String(port), '--data', data]
  const out = execFileSync('bash', [script, 'start', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  project.provide('kafkaBrokers', out.trim().split('\n').at(-1)!)
  project.provide('kafkaScript', script)
  project.provide('kafkaPort', port)
  project.provide('kafkaData', data)
  return () => {
    execFileSync('bash', [script, 'stop', ...args], { stdio: 'inherit' })
    rmSync(data, { recursive: true, force: true })
  }
}
