#!/usr/bin/env node
/**
 * Standby takeover of one OpB shard at given state sizes, on the real
 * broker, under live traffic (the `standby` experiment's part at sizes, on
 * its own):
 *
 *   npm run bench:standby [-- --keys 10000,100000,1000000 --kills 50 --rate 1000]
 *
 * Prints a table: kill → the new owner's first committed transaction per
 * size, and the verifier's verdict.
 */
import { parseArgs } from 'node:util'
import { runTeardown, startLocalKafka, stopOnSignals } from '@ridepulse/testkit'
import { standbyAtSizes } from '../experiments/standby/sizes.js'

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000,100000,1000000' },
    kills: { type: 'string', default: '50' },
    rate: { type: 'string', default: '1000' },
    port: { type: 'string', default: '29392' },
  },
})
const sizes = args.keys.split(',').map(Number)
const out = (s: string) => process.stdout.write(`${s}\n`)
stopOnSignals()
const kafka = startLocalKafka(Number(args.port))
try {
  const r = await standbyAtSizes({ brokers: kafka.brokers, sizes, kills: Number(args.kills), rate: Number(args.rate), httpBase: 27_600, say: out })
  const f = (key: string) => r.figures.find((x) => x.key === key)
  out(`\n# standby takeover of one OpB shard (Kafka on loopback, ${args.rate} events/s, ${args.kills} kills of the owner per size)`)
  out('| live keys | ttr p50 ms | p95 | p99 | max | detected → commit p50 | p95 | lost | duplicated |')
  out('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const n of sizes) {
    const t = f(`standby.sizes.ttr.${n}`)!.summary!
    const d = f(`standby.sizes.detect.${n}`)!.summary!
    const e = f(`standby.sizes.exact.${n}`)!.params!
    out(`| ${n} | ${t.p50} | ${t.p95} | ${t.p99} | ${t.max} | ${d.p50} | ${d.p95} | ${e.lost} | ${e.duplicated} |`)
  }
  out('\nttr: the owner killed with SIGKILL → the standby\'s first committed transaction as the new owner.')
} finally {
  await runTeardown()
}
