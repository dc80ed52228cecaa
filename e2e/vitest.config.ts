import { defineConfig } from 'vitest/config'

// The end-to-end test: a real cluster (any kubeconfig), our images, our
// chart, a broker reachable from the pods, pods killed under load. Not part
// of `npm test`: it needs all of that prepared (e2e/local.sh or e2e/kind.sh).
export default defineConfig({
  test: {
    name: 'e2e',
    root: import.meta.dirname,
    include: ['test/**/*.e2e.test.ts'],
    // One scenario of several minutes; its steps carry their own deadlines.
    testTimeout: 1_800_000,
    hookTimeout: 1_800_000,
    fileParallelism: false,
  },
})
