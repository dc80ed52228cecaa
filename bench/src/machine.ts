import { spawnSync } from 'node:child_process'
import { cpus, totalmem, release } from 'node:os'

export interface Machine {
  cores: number
  cpu: string
  memoryGiB: number
  kernel: string
  node: string
  java: string
  kafka: string
  commit: string
}

/** What a command prints, on either stream (java -version writes to stderr). */
const run = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || (r.error?.message ?? 'unknown')
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
    commit: run('git', ['rev-parse', '--short', 'HEAD']),
  }
}
