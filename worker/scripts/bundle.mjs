// Bundles the compiled worker into one ES module. A restarted shard's time to
// recover starts with process start-up, and loading the client library as
// hundreds of small modules took longer than the whole recovery after it.
import { build } from 'esbuild'

await build({
  entryPoints: ['dist/main.js'],
  outfile: 'dist/worker.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  // LMDB is a native addon, loaded from node_modules at run time.
  external: ['lmdb'],
  // The variant of the client's WebAssembly helpers with the module inlined.
  alias: { '@platformatic/wasm-utils': '@platformatic/wasm-utils/bundled' },
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
})
