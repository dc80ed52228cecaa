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
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
)
