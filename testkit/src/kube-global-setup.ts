import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'

const script = join(import.meta.dirname, '..', '..', 'scripts', 'kube', 'control-plane.sh')

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string
    kubeBin: string
  }
}

/** A real, throwaway API server (etcd + kube-apiserver) for the operator's integration tests. */
export default function setup(project: TestProject) {
  const port = 17000 + Math.floor(Math.random() * 300) * 3
  const dir = mkdtempSync(join(tmpdir(), 'ridepulse-kube-test-'))
  const args = ['--port', String(port), '--dir', dir]
  const out = execFileSync('bash', [script, 'start', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  project.provide('kubeconfig', out.trim().split('\n').at(-1)!)
  project.provide('kubeBin', execFileSync('bash', [join(import.meta.dirname, '..', '..', 'scripts', 'kube', 'build.sh'), '--print'], { encoding: 'utf8' }).trim())
  return () => {
    execFileSync('bash', [script, 'stop', ...args], { stdio: 'inherit' })
    rmSync(dir, { recursive: true, force: true })
  }
}
