import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['contracts/src/**/*.test.ts', 'kafka/src/**/*.test.ts', 'testkit/src/**/*.test.ts', 'worker/src/**/*.test.ts', 'operator/src/**/*.test.ts', 'board/src/**/*.test.ts', 'bench/src/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**', '**/dist/**'],
          // Behaviour, not speed, is asserted: a busy two-core machine must not fail a test.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['kafka/src/**/*.int.test.ts', 'worker/src/**/*.int.test.ts', 'worker/test/**/*.int.test.ts', 'operator/test/**/*.int.test.ts', 'board/test/**/*.int.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
          globalSetup: ['testkit/src/kafka-global-setup.ts', 'testkit/src/kube-global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // One broker, two cores: files run one after another.
          fileParallelism: false,
        },
      },
    ],
  },
})
