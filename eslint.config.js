import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/src/core/**/*.ts'],
    rules: {
      // The pure core talks to no broker, store, logger or clock of its own.
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['@platformatic/kafka', 'lmdb', 'pino', 'prom-client', 'node:fs', 'node:fs/*', 'node:net', 'node:http'], message: 'core/ is pure: pass values in, no I/O here.' },
          { group: ['../kafka/*', '../store/*', '../opa/*', '../opb/*'], message: 'core/ may not import the adapters.' },
        ],
      }],
    },
  },
  {
    files: ['operator/src/core/**/*.ts'],
    rules: {
      // Desired-state builders and plans: values in, values out. Types of Kubernetes objects only.
      'no-restricted-imports': ['error', {
        paths: [{ name: '@kubernetes/client-node', allowTypeImports: true, message: 'core/ is pure: only types of Kubernetes objects here.' }],
        patterns: [
          { group: ['@platformatic/kafka', 'pino', 'prom-client', 'node:fs', 'node:fs/*', 'node:net', 'node:http', 'node:https'], message: 'core/ is pure: pass values in, no I/O here.' },
          { group: ['../kube/*', '../kafka/*', '../reconcile/*'], message: 'core/ may not import the adapters.' },
        ],
      }],
    },
  },
  {
    files: ['operator/src/**/*.ts'],
    ignores: ['operator/src/kube/**', 'operator/src/core/**'],
    rules: {
      // kube/ is the one adapter of the Kubernetes client; elsewhere, its types only.
      'no-restricted-imports': ['error', { paths: [{ name: '@kubernetes/client-node', allowTypeImports: true, message: 'talk to the API server through kube/' }] }],
    },
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
