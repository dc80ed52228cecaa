// Bundles the compiled worker into one ES module. A restarted shard's time to
// recover starts with process start-up, and loading the client library as
// hundreds of small modules took longer than the whole recovery after it.
//
//   node scripts/bundle.mjs [entry outfile]   default: dist/main.js dist/worker.mjs
//
// The test kit bundles its worker under test (the worker with test hooks) the
// same way, so that both start alike.
import { readFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { build } from 'esbuild'

/**
 * The Kafka client compiles ~40 JSON-schema validators for its options when
 * it is imported, yet only calls them with `strict: true`, which the workers
 * do not set. Compiling each on first call instead takes that work off every
 * start-up; behaviour is unchanged (same validators, same errors).
 */
const lazyValidators = {
  name: 'lazy-option-validators',
  setup(b) {
    b.onLoad({ filter: /@platformatic[\\/]kafka[\\/]dist[\\/]clients[\\/].*options\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8')
      return { contents: deferCompiles(source), loader: 'js' }
    })
  },
}

/** Rewrites `= ajv.compile(<schema>)` into `= __lazyValidator(() => ajv.compile(<schema>))`. */
export function deferCompiles(source) {
  const marker = '= ajv.compile('
  let out = ''
  let i = 0
  for (let at = source.indexOf(marker, i); at >= 0; at = source.indexOf(marker, i)) {
    const open = at + marker.length - 1
    const close = matchingParen(source, open)
    out += source.slice(i, at) + '= __lazyValidator(() => ajv.compile(' + source.slice(open + 1, close) + '))'
    i = close + 1
  }
  if (i === 0) return source
  const helper =
    'function __lazyValidator(compile) { let v; const f = function (data) { v ??= compile(); const ok = v(data); f.errors = v.errors; return ok }; f.errors = null; return f }\n'
  return helper + out + source.slice(i)
}

function matchingParen(s, open) {
  let depth = 0
  for (let j = open; j < s.length; j++) {
    const c = s[j]
    if (c === "'" || c === '"' || c === '`') {
      for (j++; j < s.length && s[j] !== c; j++) if (s[j] === '\\') j++
      continue
    }
    if (c === '(') depth++
    else if (c === ')' && --depth === 0) return j
  }
  throw new Error(`unbalanced parenthesis after offset ${open}`)
}

const [entry = 'dist/main.js', outfile = 'dist/worker.mjs'] = process.argv.slice(2)

await build({
  entryPoints: { [basename(outfile, '.mjs')]: entry },
  outdir: dirname(outfile),
  outExtension: { '.js': '.mjs' },
  // What the worker imports only when it needs it (the object store's SDK)
  // goes to a chunk of its own beside the bundle, loaded on that import:
  // a worker that never uses it does not even parse it at start-up.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  // LMDB is a native addon, loaded from node_modules at run time.
  external: ['lmdb'],
  // The variant of the client's WebAssembly helpers with the module inlined.
  alias: { '@platformatic/wasm-utils': '@platformatic/wasm-utils/bundled' },
  plugins: [lazyValidators],
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
})
