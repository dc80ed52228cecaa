#!/usr/bin/env node
/**
 * The worker with the test hooks a test asks for in its environment, bundled
 * like the shipped worker (`dist/worker-under-test.mjs`). The shipped worker
 * has neither hook: the test kit's local pipeline runs this one only when a
 * test sets FAULT or DELIVERY.
 */
import { runWorker, startEarlyRestore } from '@ridepulse/worker'
import { testHooks, TestHooksError } from './hooks.js'

let hooks
try {
  hooks = testHooks(process.env)
} catch (err) {
  if (!(err instanceof TestHooksError)) throw err
  console.error(err.message)
  process.exit(2)
}
await runWorker(process.env, Math.round(performance.timeOrigin), startEarlyRestore(process.env), hooks)
