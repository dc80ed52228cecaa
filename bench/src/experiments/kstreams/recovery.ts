import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { createRng, firstCommitAfterRecovery, getJson, OutputFollower, waitReady, waitUntil } from '@ridepulse/testkit'
import { setTimeout as sleep } from 'node:timers/promises'
import { committedOffsets, ensureTopics, PartitionReader, type KafkaSettings } from '@ridepulse/kafka'
import { summarize } from '../../stats.js'
import type { Figure } from '../../results.js'
import { ratio, restoreSummary } from '../kstreams-lines.js'
import { keyChunks, opbPipeline, opbTopics, opbTrouble, Peer, peerEnv, type PeerSetup, produceChunks, say, stamp, startEnrichedLoad, type KStreamsOptions } from './setup.js'

/** Time to recover after SIGKILL at several state sizes, both systems under the same live load. */

interface Kill {
  /** The first kill of the process that built the state; else the kill of a replacement. */
  first: boolean
  /** Spawn → first output record of the replacement visible read_committed. */
  ttrMs: number
  /** Spawn → ready (OpB /readyz) or RUNNING (Kafka Streams). */
  readyMs: number
  /** OpB: spawn → its own first commit, by its clock (a cross-check of ttrMs). */
  ownCommitMs?: number
  /** The replacement's restore: Kafka Streams' changelog restore, or OpB's snapshot load and changelog replay. */
  restore: { records: number; ms: number }
}

interface Build {
  kills: Kill[]
  /** From the built state (and live input starting) to the first kill. */
  settledMs: number
}

interface OpbRecovery {
  readyAt: number
  phasesMs: { snapshotLoad: number; replay: number }
  replayedRecords: number
}

/**
 * Spawn → the first output record after it: the follower starts at the
 * read_committed end, read after the spawn (the old process is dead, and the
 * new one cannot have committed anything yet), the same for both systems.
 */
async function firstOutput(settings: KafkaSettings, topic: string, spawnedAt: number, trouble: () => string | undefined): Promise<number> {
  const follower = new OutputFollower(settings, topic, 1, () => undefined)
  try {
    follower.start(await follower.ends())
    return (await follower.until('first output after the restart', () => follower.firstAt !== undefined, 300_000, trouble)) - spawnedAt
  } finally {
    await follower.stop()
  }
}

/** A pause of one to two seconds before each kill, so kills land anywhere in the commit cycle. */
const pause = (rng: ReturnType<typeof createRng>) => sleep(1000 + rng.int(1000))

/**
 * One OpB shard builds a state of `keys` windows from its input; then `kills`
 * SIGKILLs, each replacement spawned at once. The first waits for OpB's first
 * full snapshot after the build: while the build runs, each partial snapshot
 * holds most of the keys, and a chain of those is what a kill just after a
 * bulk load would restore, not what a long-running shard holds.
 */
async function recoverOurs(o: KStreamsOptions, settings: KafkaSettings, keys: number, dir: string, seed: number): Promise<Build> {
  const name = `ksr-o${keys}-${stamp()}`
  const topics = await opbTopics(settings, name, 1)
  await produceChunks(settings, keyChunks(topics.TOPIC_ENRICHED, keys))
  const p = opbPipeline(o, name, 1, dir, undefined, { SNAPSHOT_INTERVAL_MS: String(o.snapshotIntervalMs) })
  let load: { stop(): Promise<number> } | undefined
  try {
    let w = p.startOpb(0)
    await waitReady(w, 120_000)
    await waitUntil('OpB building its state', async () => (await getJson<{ inputOffset: number }>(w.port, '/status')).inputOffset >= keys, { timeoutMs: 900_000, everyMs: 200, trouble: opbTrouble(w) })
    const builtAt = Date.now()
    load = startEnrichedLoad({ settings, topic: topics.TOPIC_ENRICHED, partitions: 1, rate: o.liveRate, seed: 17 })
    await waitUntil(
      'OpB full snapshot after the build',
      async () => {
        const snap = (await getJson<{ lastSnapshot: { kind: string; createdAt: number } | null }>(w.port, '/status')).lastSnapshot
        return snap?.kind === 'full' && snap.createdAt >= builtAt
      },
      { timeoutMs: 600_000, everyMs: 200, trouble: opbTrouble(w) },
    )
    const settledMs = Date.now() - builtAt
    say(`recovery ${keys}: OpB holds ${(await getJson<{ keys: number }>(w.port, '/status')).keys} windows, a full snapshot of them ${settledMs} ms after the build`)
    const rng = createRng(seed)
    const kills: Kill[] = []
    for (let k = 0; k < o.kills; k++) {
      await pause(rng)
      await p.killOpb(0)
      w = p.startOpb(0)
      const ttrMs = await firstOutput(settings, topics.TOPIC_OUTPUT, w.startedAt, opbTrouble(w))
      // Ready and first commit as the worker itself recorded them (its /status), not when polled.
      await waitReady(w, 300_000)
      const ownCommitMs = (await firstCommitAfterRecovery(w.port, 300_000)) - w.startedAt
      const { lastRecovery: r } = await getJson<{ lastRecovery: OpbRecovery }>(w.port, '/status')
      kills.push({ first: k === 0, ttrMs, readyMs: r.readyAt - w.startedAt, ownCommitMs, restore: { records: r.replayedRecords, ms: r.phasesMs.snapshotLoad + r.phasesMs.replay } })
      const current = w
      await waitUntil('OpB caught up', async () => (await getJson<{ lag: number }>(current.port, '/status')).lag <= Math.max(20, o.liveRate / 10), { timeoutMs: 300_000, everyMs: 200, trouble: opbTrouble(current) })
    }
    return { kills, settledMs }
  } finally {
    await load?.stop()
    await p.stopAll()
    rmSync(join(dir, name), { recursive: true, force: true })
  }
}

/**
 * The same for one Kafka Streams JVM with one stream thread (one task, one
 * changelog partition); its first kill comes as long after its build as
 * OpB's did, with the same input flowing meanwhile.
 */
async function recoverTheirs(o: KStreamsOptions, s: PeerSetup, settings: KafkaSettings, keys: number, seed: number, settledMs: number): Promise<Kill[]> {
  const name = `ksr-t${keys}-${stamp()}`
  const input = `${name}.input`
  const output = `${name}.output`
  await ensureTopics(settings, [{ name: input, partitions: 1 }, { name: output, partitions: 1 }])
  await produceChunks(settings, keyChunks(input, keys))
  const env = peerEnv(s, name, input, output, 1)
  const log = join(s.dir, `${name}.log`)
  let peer = new Peer(s.command, env, log)
  let load: { stop(): Promise<number> } | undefined
  const committed = async () => (await committedOffsets(settings, name, input, [0])).offsets.get(0) ?? 0
  const reader = new PartitionReader(settings, input, 0)
  try {
    await peer.running(120_000)
    await waitUntil('Kafka Streams building its state', async () => (await committed()) >= keys, { timeoutMs: 900_000, everyMs: 200, trouble: () => peer.trouble() })
    load = startEnrichedLoad({ settings, topic: input, partitions: 1, rate: o.liveRate, seed: 17 })
    say(`recovery ${keys}: Kafka Streams has built its state`)
    await sleep(settledMs)
    const rng = createRng(seed)
    const kills: Kill[] = []
    for (let k = 0; k < o.kills; k++) {
      await pause(rng)
      await peer.kill()
      peer = new Peer(s.command, env, log)
      const current = peer
      const ttrMs = await firstOutput(settings, output, current.startedAt, () => current.trouble())
      const readyMs = (await current.running(300_000)) - current.startedAt
      const r = restoreSummary(current.lines)
      kills.push({ first: k === 0, ttrMs, readyMs, restore: { records: r.records, ms: r.ms } })
      await waitUntil('Kafka Streams caught up', async () => (await reader.endOffset()) - (await committed()) <= Math.max(20, o.liveRate / 10), { timeoutMs: 300_000, everyMs: 200, trouble: () => current.trouble() })
    }
    return kills
  } finally {
    await load?.stop()
    await reader.close()
    await peer.stop()
  }
}

function recoveryFigures(keys: number, ours: Kill[], theirs: Kill[], liveRate: number): Figure[] {
  const k = keys.toLocaleString('en')
  const out: Figure[] = []
  const cases = [
    { name: 'first', pick: (x: Kill) => x.first, text: 'first kill after the state was built' },
    { name: 'again', pick: (x: Kill) => !x.first, text: 'later kills, each of a replacement that had caught up' },
  ] as const
  for (const c of cases) {
    const o = ours.filter(c.pick)
    const t = theirs.filter(c.pick)
    if (o.length === 0 || t.length === 0) continue
    const ttrOurs = summarize(o.map((x) => x.ttrMs))
    const ttrTheirs = summarize(t.map((x) => x.ttrMs))
    // Record counts exactly, not through a histogram's three significant digits.
    const counts = (xs: Kill[]) => {
      const r = xs.map((x) => x.restore.records).sort((a, b) => a - b)
      return { recordsMedian: r[Math.floor((r.length - 1) / 2)]!, recordsMax: r.at(-1)! }
    }
    const params = { keys, liveRate }
    // The first kill of each size is the headline: `kstreams.ratio.ttr.<keys>`.
    const suffix = c.name === 'first' ? `${keys}` : `again.${keys}`
    out.push(
      { key: `kstreams.ours.ttr.${suffix}`, label: `OpB: spawn → first committed output, ${k} keys, ${c.text}`, unit: 'ms', summary: ttrOurs, params },
      { key: `kstreams.theirs.ttr.${suffix}`, label: `Kafka Streams: spawn → first committed output, ${k} keys, ${c.text}`, unit: 'ms', summary: ttrTheirs, params },
      { key: `kstreams.ours.restore.${suffix}`, label: `OpB: snapshot load + changelog replay, ${k} keys, ${c.text}`, unit: 'ms', summary: summarize(o.map((x) => x.restore.ms)), params: { ...params, ...counts(o) } },
      { key: `kstreams.theirs.restore.${suffix}`, label: `Kafka Streams: changelog restore, ${k} keys, ${c.text}`, unit: 'ms', summary: summarize(t.map((x) => x.restore.ms)), params: { ...params, ...counts(t) } },
    )
    const r = ratio(ttrOurs.p50, ttrTheirs.p50)
    if (r !== undefined) out.push({ key: `kstreams.ratio.ttr.${suffix}`, label: `time to recover p50, OpB / Kafka Streams, ${k} keys, ${c.text}`, unit: '×', value: r, params: { ...params, kills: `${o.length}+${t.length}`, p95: ratio(ttrOurs.p95, ttrTheirs.p95) ?? 'n/a' } })
  }
  out.push(
    { key: `kstreams.ours.ready.${keys}`, label: `OpB: spawn → ready, ${k} keys, every kill`, unit: 'ms', summary: summarize(ours.map((x) => x.readyMs)), params: { keys } },
    { key: `kstreams.ours.commit.${keys}`, label: `OpB: spawn → its own first commit, ${k} keys, every kill`, unit: 'ms', summary: summarize(ours.map((x) => x.ownCommitMs ?? 0)), params: { keys } },
    { key: `kstreams.theirs.running.${keys}`, label: `Kafka Streams: spawn → RUNNING, ${k} keys, every kill`, unit: 'ms', summary: summarize(theirs.map((x) => x.readyMs)), params: { keys } },
  )
  return out
}

export async function recovery(o: KStreamsOptions, s: PeerSetup, settings: KafkaSettings): Promise<Figure[]> {
  const out: Figure[] = []
  for (const keys of o.keys) {
    const ours: Kill[] = []
    const theirs: Kill[] = []
    for (let b = 0; b < o.builds; b++) {
      const built = await recoverOurs(o, settings, keys, s.dir, keys + b)
      ours.push(...built.kills)
      theirs.push(...(await recoverTheirs(o, s, settings, keys, keys + b, built.settledMs)))
    }
    const p50 = (xs: Kill[], first: boolean) => summarize(xs.filter((x) => x.first === first).map((x) => x.ttrMs)).p50
    say(`recovery ${keys}: first kill p50 ours ${p50(ours, true)} ms, Kafka Streams ${p50(theirs, true)} ms; later kills ours ${p50(ours, false)} ms, Kafka Streams ${p50(theirs, false)} ms`)
    out.push(...recoveryFigures(keys, ours, theirs, o.liveRate))
  }
  return out
}

