import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, totalmem, release } from 'node:os'
import { join } from 'node:path'

export interface Machine {
  cores: number
  cpu: string
  memoryGiB: number
  kernel: string
  node: string
  java: string
  kafka: string
  /** The Kafka client package and its version (recorded since the move to its 2.x line). */
  client?: string
  commit: string
}

/** What a command prints, on either stream (java -version writes to stderr). */
const run = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || (r.error?.message ?? 'unknown')
}

function clientVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'node_modules', '@platformatic', 'kafka', 'package.json'), 'utf8')) as { version: string }
    return `@platformatic/kafka ${pkg.version}`
  } catch {
    return 'unknown'
  }
}

/** The machine a run was taken on, recorded with every figure. */
export function describeMachine(kafkaVersion: string): Machine {
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    java: run('java', ['-version']).split('\n')[0] ?? 'unknown',
    kafka: kafkaVersion,
    client: clientVersion(),
    commit: run('git', ['rev-parse', '--short', 'HEAD']),
  }
}
