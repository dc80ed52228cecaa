import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/**
 * The house rules between packages (docs/architecture.md): contracts at the
 * bottom, then kafka, then the products (worker, operator, board), then the
 * test kit, then the tools (bench, e2e). A package is imported by its name
 * and its declared entries only, never by a path into it.
 */
const intoAnotherPackage = [
  { group: ['@ridepulse/*/**', '!@ridepulse/testkit/vitest'], message: 'import a package by its name (its declared entry), not a path into it' },
  { group: ['../../*/src/**', '../../*/test/**', '../../../*/src/**', '../../../*/test/**'], message: 'another package\'s insides are its own: import it by its name' },
]
const onlyBelow = (allowed) => ({
  group: ['@ridepulse/*', ...allowed.map((p) => `!@ridepulse/${p}`)],
  message: `a package depends downwards only: here ${allowed.length ? allowed.join(' and ') : 'no other package'}`,
})
const layers = {
  contracts: [],
  kafka: ['contracts'],
  worker: ['contracts', 'kafka'],
  operator: ['contracts', 'kafka'],
  board: ['contracts', 'kafka'],
}
const pure = { group: ['@platformatic/kafka', 'lmdb', 'pino', 'prom-client', 'node:fs', 'node:fs/*', 'node:net', 'node:http', 'node:https'], message: 'pure: pass values in, no I/O here.' }

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: intoAnotherPackage }] },
  },
  // Each product and library package imports only the packages below it.
  ...Object.entries(layers).map(([pkg, allowed]) => ({
    files: [`${pkg}/src/**/*.ts`],
    ignores: [`${pkg}/src/**/*.test.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns: [...intoAnotherPackage, onlyBelow(allowed)] }] },
  })),
  {
    files: ['contracts/src/**/*.ts'],
    ignores: ['contracts/src/**/*.test.ts'],
    rules: {
      // Types, schemas and pure codecs: no client, no I/O.
      'no-restricted-imports': ['error', {
        paths: [{ name: '@kubernetes/client-node', message: 'contracts are pure: no client here.' }],
        patterns: [...intoAnotherPackage, onlyBelow([]), pure],
      }],
    },
  },
  {
    files: ['worker/src/core/**/*.ts'],
    ignores: ['worker/src/core/**/*.test.ts'],
    rules: {
      // The pure core talks to no broker, store, logger or clock of its own.
      'no-restricted-imports': ['error', {
        patterns: [
          ...intoAnotherPackage,
          onlyBelow(['contracts']),
          pure,
          { group: ['../kafka/*', '../store/*', '../opa/*', '../opb/*'], message: 'core/ may not import the adapters.' },
        ],
      }],
    },
  },
  {
    files: ['operator/src/core/**/*.ts'],
    ignores: ['operator/src/core/**/*.test.ts'],
    rules: {
      // Desired-state builders and plans: values in, values out. Types of Kubernetes objects only.
      'no-restricted-imports': ['error', {
        paths: [{ name: '@kubernetes/client-node', allowTypeImports: true, message: 'core/ is pure: only types of Kubernetes objects here.' }],
        patterns: [
          ...intoAnotherPackage,
          onlyBelow(['contracts']),
          pure,
          { group: ['../kube/*', '../kafka/*', '../reconcile/*'], message: 'core/ may not import the adapters.' },
        ],
      }],
    },
  },
  {
    files: ['operator/src/**/*.ts'],
    ignores: ['operator/src/kube/**', 'operator/src/core/**', 'operator/src/**/*.test.ts'],
    rules: {
      // kube/ is the one adapter of the Kubernetes client; elsewhere, its types only.
      'no-restricted-imports': ['error', {
        paths: [{ name: '@kubernetes/client-node', allowTypeImports: true, message: 'talk to the API server through kube/' }],
        patterns: [...intoAnotherPackage, onlyBelow(layers.operator)],
      }],
    },
  },
  {
    // The Kafka client has one adapter: the kafka package.
    files: ['**/*.ts'],
    ignores: ['kafka/src/**', '**/*.test.ts', 'operator/test/**'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "ImportDeclaration[source.value='@platformatic/kafka']",
        message: 'talk to Kafka through @ridepulse/kafka',
      }],
    },
  },
  {
    // Promises that nobody awaits or checks: type-aware, over everything that is compiled.
    files: ['*/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    // Build scripts run by Node.
    files: ['**/scripts/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly' } },
  },
  {
    // The board's page: plain browser modules, no build step.
    files: ['board/public/**/*.js'],
    languageOptions: { globals: { document: 'readonly', localStorage: 'readonly', requestAnimationFrame: 'readonly', EventSource: 'readonly', setInterval: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
)
