import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { awaitVerdict, createRng, firstCommitAfterRecovery, getJson, LocalPipeline, startLoad, waitReady, type WorkerEnv, type WorkerProcess } from '@ridepulse/testkit'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Experiment, Figure } from '../results.js'
import { medianBy, summarize } from '../stats.js'
import { eventTimeRule } from '@ridepulse/contracts'
import { buildShardHistory } from '../worker/history.js'
import { drainRate } from './steady.js'

const WINDOW = 4000
/** Of the maximum: the load the kills are measured under, and the load near saturation OpA's rate is checked at. */
const HALF = 0.5
const PRESSURE = 0.8

export interface UnderLoadOptions {
  brokers: string
  /** Live keys of each shard's state: shard s holds a history of sizes[s] windows. */
  sizes: number[]
  /** Kills per size at half the maximum, interleaved: each round kills every shard once, in a random order. */
  kills: number
  /** Kills of random shards at 80% of the maximum, for OpA's rate while a shard recovers. */
  pressureKills: number
  /** The backlog that measures the maximum of the same pipeline, drained `drains` times (the median is used). */
  backlog: number
  drains: number
  httpBase: number
  say?: (line: string) => void
}

/** Records OpA has taken from `orders` so far (the sum of its positions). */
const opaPosition = async (port: number) => Object.values((await getJson<{ partitions: Record<string, number> }>(port, '/status')).partitions).reduce((a, b) => a + b, 0)

/** SIGKILL from outside, a death in an open transaction (the test hook's SIGUSR2), or a clean stop (SIGTERM: the shard snapshots and exits). */
export type KillKind = 'outside' | 'in-transaction' | 'stop'
const SIGNAL = { outside: 'SIGKILL', 'in-transaction': 'SIGUSR2', stop: 'SIGTERM' } as const

export interface Kill {
  shard: number
  kind: KillKind
  /** From the process's death. */
  firstCommit: number
  caughtUp: number
  /** The replacement's own start: spawned → ready (fence, state checked and loaded, tail replayed, input resumed). */
  spawnToReady: number
  /** Where the time went: Node's start and the bundle's load (spawn → ready less the recovery's phases), the recovery's phases, then ready → first commit. */
  phases: { start: number; fence: number; snapshotLoad: number; replay: number; resume: number; toFirstCommit: number }
  /** OpA's rate from the kill to caught up, against the second before (‰). */
  opaRatio: number | undefined
}

/**
 * Kills shard `shard` and restarts it at once, as a supervisor would.
 * `outside`: SIGKILL from here, wherever its commit cycle is. `in-transaction`:
 * the process kills itself (SIGKILL) at its next commit with the records
 * sent and the transaction not committed yet, so its replacement's fence
 * must have the coordinator abort it. `stop`: SIGTERM, and a restart once it
 * has exited. Times run from the death (the exit).
 */
export async function killAndRecover(p: LocalPipeline, shard: number, kind: KillKind, lagLimit: number): Promise<Kill> {
  const opa = p.opa.get(0)!
  const before0 = await opaPosition(opa.port)
  await sleep(1000)
  const before1 = await opaPosition(opa.port)
  const w = p.opb.get(shard)!
  let diedAt = 0
  w.child.once('exit', () => (diedAt = Date.now()))
  const atKill = await opaPosition(opa.port)
  w.child.kill(SIGNAL[kind])
  const gone = await Promise.race([w.exited.then(() => true), sleep(30_000).then(() => false)])
  if (!gone) throw new Error(`${w.name} did not end within 30 s of ${kind === 'in-transaction' ? 'SIGUSR2 (its fault at the next commit)' : SIGNAL[kind]}; see ${w.logFile}`)
  const expected = kind === 'stop' ? w.child.exitCode === 0 : w.child.signalCode === 'SIGKILL'
  if (!expected) throw new Error(`${w.name} ended with ${w.child.signalCode ?? `exit code ${w.child.exitCode}`}, not ${kind === 'stop' ? 'exit code 0' : 'SIGKILL'}; see ${w.logFile}`)
  const r = p.startOpb(shard)
  const readyAt = await waitReady(r, 600_000)
  const firstCommitAt = await firstCommitAfterRecovery(r.port, 120_000)
  const rec = (await getJson<{ lastRecovery: { phasesMs: Record<'fence' | 'snapshotLoad' | 'replay' | 'resume', number> } }>(r.port, '/status')).lastRecovery
  // The worker's recovery starts with its process; its phases leave out Node's start and the bundle's load, which is the rest of spawn → ready.
  const inPhases = rec.phasesMs.fence + rec.phasesMs.snapshotLoad + rec.phasesMs.replay + rec.phasesMs.resume
  const phases = { start: Math.max(0, readyAt - r.startedAt - inPhases), ...rec.phasesMs, toFirstCommit: firstCommitAt - readyAt }
  let upAt = 0
  for (const deadline = Date.now() + 300_000; !upAt; await sleep(20)) {
    if (Date.now() > deadline) throw new Error(`${r.name} did not catch up within 5 minutes of its restart; see ${r.logFile}`)
    const st = await getJson<{ lag: number }>(r.port, '/status')
    if (st.lag <= lagLimit) upAt = Date.now()
  }
  const steadyRate = before1 - before0
  const during = ((await opaPosition(opa.port)) - atKill) / ((upAt - diedAt) / 1000)
  return { shard, kind, firstCommit: firstCommitAt - diedAt, caughtUp: upAt - diedAt, spawnToReady: readyAt - r.startedAt, phases, opaRatio: steadyRate > 0 ? (during / steadyRate) * 1000 : undefined }
}

const shuffled = (xs: number[], rng: ReturnType<typeof createRng>) => {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

const p95 = (xs: number[]) => summarize(xs).p95

/** The median of each phase over some kills, `<phase>P50` in ms. */
function phaseMedians(ks: Kill[]): Record<string, number> {
  const names = ['start', 'fence', 'snapshotLoad', 'replay', 'resume', 'toFirstCommit'] as const
  return Object.fromEntries(names.map((n) => [`${n}P50`, Math.round(summarize(ks.map((k) => k.phases[n])).p50)]))
}

/**
 * Time to recover as a user means it: one pipeline (OpA ×1, one OpB shard
 * per state size, shard s holding a history of sizes[s] live windows) under
 * half its own maximum, measured first on the same shape. Each round kills
 * every shard once in a random order, so the sizes are interleaved and a
 * slow spell of the machine hits them alike; the rounds alternate a SIGKILL
 * from outside with a death in an open transaction. For each kill: death →
 * the replacement's first committed transaction, death → caught up (input
 * lag back under two commit intervals of the shard's traffic), and the
 * replacement's spawn → ready as a phase. Then the load goes to 80% of the
 * maximum and random shards are killed, for OpA's rate while a shard
 * recovers against its rate just before. The verifier checks every window.
 */
export async function recoveryUnderLoad(o: UnderLoadOptions): Promise<Experiment> {
  const shards = o.sizes.length
  const say = o.say ?? (() => {})
  const drainOpts = { kafka: { brokers: o.brokers }, shards, backlog: o.backlog, seconds: 0, levels: [], windowMs: WINDOW }
  const drains = []
  for (let i = 0; i < o.drains; i++) drains.push(await drainRate({ ...drainOpts, httpBase: o.httpBase + 300 + 20 * i }, 'underload-max'))
  const max = medianBy(drains, (d) => d.rate).rate
  const rate = Math.round(max * HALF)
  const pressureRate = Math.round(max * PRESSURE)
  say(`underload: maximum ${max} events/s (${drains.map((d) => d.rate).join(' ')}); kills at ${rate}, OpA's rate at ${pressureRate}`)

  const pipeline = `underload-${Date.now().toString(36)}`
  const dataDir = mkdtempSync(join(tmpdir(), 'ridepulse-underload-'))
  const settings = { brokers: [o.brokers], clientId: 'bench-underload' }
  const env: WorkerEnv = {
    WINDOW_SIZE_MS: String(WINDOW), ALLOWED_LATENESS_MS: '500', OUT_OF_ORDERNESS_MS: '500', IDLE_TIMEOUT_MS: '1500', SNAPSHOT_INTERVAL_MS: '5000',
    // The histories' windows are as old as their size needs: kept, never purged.
    RETENTION_MS: String(10 * 365 * 86_400_000), LOG_LEVEL: 'warn',
  }
  const p = new LocalPipeline({ brokers: o.brokers, pipeline, shards, ordersPartitions: shards, opaInstances: 1, dataDir, httpBase: o.httpBase, env, opbEnv: () => ({ FAULT: 'during-commit:signal' }) })
  const rng = createRng(11)
  const kills: Kill[] = []
  const pressure: Kill[] = []
  try {
    for (let s = 0; s < shards; s++) {
      const t0 = Date.now()
      await buildShardHistory(settings, pipeline, join(dataDir, `opb-${s}`), o.sizes[s]!, 5000, true, { shard: s, shards })
      say(`underload: shard ${s}'s history of ${o.sizes[s]!.toLocaleString('en')} keys built in ${Math.round((Date.now() - t0) / 1000)} s`)
    }
    p.startOpa(0)
    for (let s = 0; s < shards; s++) p.startOpb(s)
    await Promise.all([...p.opa.values(), ...p.opb.values()].map((w: WorkerProcess) => waitReady(w, 600_000)))
    let load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: shards, ratePerSec: rate, zones: 48, seed: 3, malformedFraction: 0.01, maxDisorderMs: 300 })
    let sent = 0
    try {
      await sleep(3000)
      const lagLimit = (r: number) => Math.max(50, Math.ceil((r / shards) * 0.2))
      for (let round = 0; round < o.kills; round++) {
        const kind: KillKind = round % 2 === 0 ? 'outside' : 'in-transaction'
        for (const shard of shuffled([...Array(shards).keys()], rng)) {
          await sleep(300 + rng.int(1000))
          const k = await killAndRecover(p, shard, kind, lagLimit(rate))
          kills.push(k)
          say(`underload: ${o.sizes[shard]!.toLocaleString('en')} keys, ${kind}: first commit ${k.firstCommit} ms, caught up ${k.caughtUp} ms after the death`)
        }
      }
      sent += (await load.stop()).sent
      load = startLoad({ settings, topic: p.topics.TOPIC_ORDERS, partitions: shards, ratePerSec: pressureRate, zones: 48, seed: 4, malformedFraction: 0.01, maxDisorderMs: 300 })
      await sleep(3000)
      for (let i = 0; i < o.pressureKills; i++) {
        await sleep(300 + rng.int(1000))
        const k = await killAndRecover(p, rng.int(shards), 'outside', lagLimit(pressureRate))
        pressure.push(k)
        say(`underload at ${Math.round(PRESSURE * 100)}%: OpA's rate while shard ${k.shard} recovered ${((k.opaRatio ?? 0) / 10).toFixed(0)}% of the second before`)
      }
      await sleep(1500)
    } finally {
      sent += (await load.stop()).sent
    }
    const report = await awaitVerdict(settings, pipeline, { orders: shards, shards }, eventTimeRule(env), 180_000)
    const opaAlive = p.opa.get(0)!.child.exitCode === null
    const figures: Figure[] = []
    for (const [s, keys] of o.sizes.entries()) {
      const at = kills.filter((k) => k.shard === s)
      const params = { keys, load: rate, kills: at.length, inTransaction: at.filter((k) => k.kind === 'in-transaction').length }
      figures.push(
        { key: `underload.firstCommit.${keys}`, label: `${keys.toLocaleString('en')} keys: death → first committed transaction`, unit: 'ms', summary: summarize(at.map((k) => k.firstCommit)), params },
        { key: `underload.caughtUp.${keys}`, label: `${keys.toLocaleString('en')} keys: death → caught up`, unit: 'ms', summary: summarize(at.map((k) => k.caughtUp)), params },
        { key: `underload.ready.${keys}`, label: `${keys.toLocaleString('en')} keys: the replacement's spawn → ready (a phase)`, unit: 'ms', summary: summarize(at.map((k) => k.spawnToReady)), params: { ...params, ...phaseMedians(at) } },
      )
    }
    for (const kind of ['outside', 'in-transaction'] as const) {
      const of = kills.filter((k) => k.kind === kind)
      figures.push({ key: `underload.firstCommit.${kind}`, label: `every size, ${kind === 'outside' ? 'SIGKILL from outside' : 'death in an open transaction'}: death → first committed transaction`, unit: 'ms', summary: summarize(of.map((k) => k.firstCommit)), params: { kills: of.length, p95ByShard: o.sizes.map((_, s) => Math.round(p95(of.filter((k) => k.shard === s).map((k) => k.firstCommit)))).join(' ') } })
    }
    const ratios = (ks: Kill[]) => ks.map((k) => k.opaRatio).filter((r): r is number => r !== undefined)
    figures.push(
      { key: 'underload.opaRatio', label: `OpA's rate while a shard recovers / the second before, at ${Math.round(HALF * 100)}% load (‰)`, unit: '‰', summary: summarize(ratios(kills)), params: { load: rate } },
      { key: 'underload.opaRatio.pressure', label: `OpA's rate while a shard recovers / the second before, at ${Math.round(PRESSURE * 100)}% load (‰)`, unit: '‰', summary: summarize(ratios(pressure)), params: { load: pressureRate } },
      { key: 'underload.max', label: 'maximum of this pipeline (backlog drained, median)', unit: 'events/s', value: max, params: { shards, runs: drains.map((d) => d.rate).join(' '), events: o.backlog } },
      { key: 'underload.exact', label: 'lost + duplicated windows', unit: 'windows', value: report.lost + report.duplicated, params: { kills: kills.length + pressure.length, windows: report.windows, lost: report.lost, duplicated: report.duplicated, sent, opaNeverRestarted: opaAlive } },
    )
    return {
      title: 'Recovery under load, and exactly-once through the kills',
      method:
        `One pipeline, OpA ×1 and OpB ×${shards}, each shard holding a history of ${o.sizes.map((k) => k.toLocaleString('en')).join(', ')} live windows (in its changelog and a snapshot on its volume). ` +
        `Its maximum is measured first on the same shape (a backlog of ${o.backlog.toLocaleString('en')} events drained ${o.drains} time${o.drains === 1 ? '' : 's'}, the median); then under ${Math.round(HALF * 100)}% of it, ${rate.toLocaleString('en')} events/s of generated traffic, ` +
        `${o.kills} rounds each kill every shard once in a random order (so the sizes are interleaved), and restart it at once as a supervisor would; even rounds SIGKILL it from outside wherever its commit cycle is, odd rounds make it kill itself (SIGKILL) with the records of a transaction sent and not committed, so the replacement's fence must have the transaction aborted. ` +
        'Times run from the death (the exit as this harness sees it) to the replacement\'s first committed transaction, and to caught up (its input lag back under two commit intervals of the shard\'s traffic); the replacement\'s spawn → ready is a phase of it, with the medians of its own phases beside it (Node\'s start until the recovery begins, fence, snapshot load, changelog replay, input resumed, then ready → first commit). ' +
        `Then the load goes to ${Math.round(PRESSURE * 100)}% of the maximum (${pressureRate.toLocaleString('en')} events/s) and a random shard is killed ${o.pressureKills} times: OpA's rate from the kill to caught up against its rate in the second before. OpA is never killed. Last, the verifier checks every window against the raw input.`,
      figures,
    }
  } finally {
    await p.stopAll()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
