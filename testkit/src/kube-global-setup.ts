import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { startControlPlane } from './kube.js'

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string
    kubeBin: string
  }
}

/** A real, throwaway API server (etcd + kube-apiserver) for the operator's integration tests. */
export default function setup(project: TestProject) {
  const cp = startControlPlane(17000 + Math.floor(Math.random() * 300) * 3)
  project.provide('kubeconfig', cp.kubeconfig)
  project.provide('kubeBin', execFileSync('bash', [join(import.meta.dirname, '..', '..', 'scripts', 'kube', 'build.sh'), '--print'], { encoding: 'utf8' }).trim())
  return () => cp.stop()
}
