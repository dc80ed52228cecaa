import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { awaitVerdict, createRng, firstCommitAfterRecovery, getJson, LocalPipeline, startLoad, waitReady } from '@ridepulse/testkit'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Experiment } from '../results.js'
import { summarize } from '../stats.js'
import { eventTimeRule } from '@ridepulse/contracts'

const WINDOW = 4000

/** Records OpA has taken from `orders` so far (the sum of its positions). */
const opaPosition = async (port: number) => Object.values((await getJson<{ partitions: Record<string, number> }>(port, '/status')).partitions).reduce((a, b) => a + b, 0)

/**
 * Design tests 1 and 3 under load: random OpB shards killed with SIGKILL
 * while traffic flows, each restarted at once. For each kill: time to ready,
 * to the first committed transaction and to caught up (lag back under a
 * tenth of a second of traffic), and OpA's rate while the shard recovers
 * against its rate just before. The run ends with the verifier.
 */
export async function recoveryUnderLoad(o: { brokers: string; kills: number; rate: number; httpBase: number }): Promise<Experiment> {
  const shards = 3
  const p = new LocalPipeline({
    brokers: o.brokers,
    pipeline: `underload-${Date.now().toString(36)}`,
    shards,
    ordersPartitions: shards,
    opaInstances: 1,
    dataDir: mkdtempSync(join(tmpdir(), 'ridepulse-underload-')),
    httpBase: o.httpBase,
    env: { WINDOW_SIZE_MS: String(WINDOW), ALLOWED_LATENESS_MS: '500', OUT_OF_ORDERNESS_MS: '500', IDLE_TIMEOUT_MS: '1500', SNAPSHOT_INTERVAL_MS: '1000', LOG_LEVEL: 'warn' },
  })
  const settings = { brokers: [o.brokers], clientId: 'bench-underload' }
  const rng = createRng(11)
  const ready: number[] = []
  const firstCommit: number[] = []
  const caughtUp: number[] = []
  const opaRatio: number[] = []
  try {
    await p.startAll()
    const opa = p.opa.get(0)!
    const load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: shards, ratePerSec: o.rate, zones: 24, seed: 3, malformedFraction: 0.01, maxDisorderMs: 300 })
    await sleep(3000)
    for (let k = 0; k < o.kills; k++) {
      await sleep(500 + rng.int(1500))
      const before0 = await opaPosition(opa.port)
      await sleep(1000)
      const before1 = await opaPosition(opa.port)
      const steadyRate = before1 - before0
      const shard = rng.int(shards)
      const killedAt = Date.now()
      const atKill = await opaPosition(opa.port)
      await p.killOpb(shard)
      const w = p.startOpb(shard)
      ready.push((await waitReady(w)) - w.startedAt)
      firstCommit.push((await firstCommitAfterRecovery(w.port)) - w.startedAt)
      for (;;) {
        const st = await getJson<{ lag: number }>(w.port, '/status')
        if (st.lag <= Math.max(20, o.rate / 10)) break
        await sleep(20)
      }
      const upAt = Date.now()
      caughtUp.push(upAt - w.startedAt)
      const during = ((await opaPosition(opa.port)) - atKill) / ((upAt - killedAt) / 1000)
      if (steadyRate > 0) opaRatio.push(during / steadyRate)
    }
    await sleep(1500)
    const sent = await load.stop()
    const report = await awaitVerdict(settings, p.opts.pipeline, { orders: shards, shards }, eventTimeRule(p.opts.env ?? {}), 60_000)
    const opaAlive = opa.child.exitCode === null
    const ratio = summarize(opaRatio.map((r) => r * 1000))
    return {
      title: 'Recovery under load, and exactly-once through the kills',
      method:
        `OpA ×1 and OpB ×${shards} under ${o.rate} events/s of generated traffic; ${o.kills} times a random OpB shard is killed with SIGKILL and restarted at once, never OpA. ` +
        'Times run from the replacement process spawned to ready, to its first committed transaction, and to caught up (input lag back under a tenth of a second of traffic). ' +
        'OpA\'s rate from the kill to caught up is compared with its rate in the second before. Then the verifier checks every window against the raw input.',
      figures: [
        { key: 'underload.ready', label: 'spawn → ready', unit: 'ms', summary: summarize(ready) },
        { key: 'underload.firstCommit', label: 'spawn → first committed output', unit: 'ms', summary: summarize(firstCommit) },
        { key: 'underload.caughtUp', label: 'spawn → caught up', unit: 'ms', summary: summarize(caughtUp) },
        { key: 'underload.opaRatio', label: 'OpA rate during a recovery / before it (‰)', unit: '‰', summary: ratio },
        { key: 'underload.exact', label: 'lost + duplicated windows', unit: 'windows', value: report.lost + report.duplicated, params: { kills: o.kills, windows: report.windows, lost: report.lost, duplicated: report.duplicated, sent: sent.sent, opaNeverRestarted: opaAlive } },
      ],
    }
  } finally {
    await p.stopAll()
    rmSync(p.opts.dataDir, { recursive: true, force: true })
  }
}
