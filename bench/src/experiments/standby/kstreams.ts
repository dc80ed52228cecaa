import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createRng, OutputFollower } from '@ridepulse/testkit'
import { ensureTopics } from '@ridepulse/kafka'
import type { Figure } from '../../results.js'
import { summarize } from '../../stats.js'
import { peerCommand } from '../kstreams/index.js'
import { currentTasks } from '../kstreams-lines.js'
import { decodeTheirs, Peer, peerEnv, producedKeys, say, stamp, startEnrichedLoad } from '../kstreams/setup.js'

/** The one task of a one-partition input. */
const TASK = '0_0'

export interface TheirsOptions {
  root: string
  brokers: string
  kills: number
  rate: number
  /** The main consumer's session timeout: how long the group waits for a member that died without a word. */
  sessionTimeoutMs: number
}

/**
 * Kafka Streams' own standby: two instances of the peer on one input
 * partition with `num.standby.replicas=1`, so one runs the task and the other
 * keeps a standby replica of its store. The instance running the task is
 * killed with SIGKILL; the group notices once its session times out,
 * rebalances, and the survivor's standby becomes the active task. The killed
 * instance is then started again (same instance id and state directory) and
 * becomes the standby. Time to recover: the kill → the first record of the
 * survivor visible to a read_committed reader of the output.
 */
export async function theirsFailover(o: TheirsOptions): Promise<{ method: string; figures: Figure[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'ridepulse-kstreams-standby-'))
  const settings = { brokers: [o.brokers], clientId: 'bench-kstreams-standby' }
  let keep = false
  const peers: Peer[] = []
  try {
    const { command } = await peerCommand(join(o.root, 'bench', 'peers', 'kafka-streams', 'run.sh'), o.brokers, dir, settings)
    const name = `kss-${stamp()}`
    const input = `${name}.input`
    const output = `${name}.output`
    await ensureTopics(settings, [{ name: input, partitions: 1 }, { name: output, partitions: 1 }])
    const s = { command, brokers: o.brokers, dir }
    const envOf = (i: number) => ({ ...peerEnv(s, name, input, output, 1), INSTANCE_ID: `${name}-${i}`, STATE_DIR: join(dir, name, String(i)), STANDBY_REPLICAS: '1', SESSION_TIMEOUT_MS: String(o.sessionTimeoutMs) })
    const start = (i: number) => (peers[i] = new Peer(command, envOf(i), join(dir, `${name}-${i}.log`)))
    const trouble = () => peers.map((p) => p.trouble()).find((t) => t !== undefined)
    /** Until one instance runs the task and the other holds its standby; returns the active one. */
    const pair = async (what: string): Promise<number> => {
      for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(50)) {
        const t = trouble()
        if (t) throw new Error(`${what}: ${t}`)
        const [a, b] = [currentTasks(peers[0]!.lines), currentTasks(peers[1]!.lines)]
        if (a.active.includes(TASK) && b.standby.includes(TASK)) return 0
        if (b.active.includes(TASK) && a.standby.includes(TASK)) return 1
      }
      throw new Error(`${what}: no active task and standby within two minutes`)
    }
    // Every event of the run, per output key, to check the output against.
    const expected = new Map<string, number>()
    const all = new OutputFollower(settings, output, 1, decodeTheirs).start()
    const load = startEnrichedLoad({
      settings, topic: input, partitions: 1, rate: o.rate, seed: 23,
      onBatch: (events) => {
        for (const k of producedKeys(events)) expected.set(k, (expected.get(k) ?? 0) + 1)
      },
    })
    start(0)
    start(1)
    let active = await pair('Kafka Streams pair starting')
    await sleep(3000)
    const rng = createRng(29)
    const ttr: number[] = []
    const takeover: number[] = []
    try {
      for (let k = 0; k < o.kills; k++) {
        await sleep(1000 + rng.int(1000))
        const survivor = 1 - active
        const killedAt = Date.now()
        // Growth of the output after the kill, with when it was seen.
        const seen: number[] = []
        const after = new OutputFollower(settings, output, 1, decodeTheirs, (_k, _g, at) => seen.push(at))
        await peers[active]!.kill()
        after.start(await after.ends())
        const promotedAt = await (async () => {
          for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(10)) {
            const t = peers[survivor]!.trouble()
            if (t) throw new Error(`kill ${k + 1}: ${t}`)
            const tasks = currentTasks(peers[survivor]!.lines)
            if (tasks.at >= killedAt && tasks.active.includes(TASK)) return tasks.at
          }
          throw new Error(`kill ${k + 1}: the survivor did not take the task over within two minutes`)
        })()
        // The survivor's first output: the first growth seen once it ran the task (its report is polled every 20 ms).
        const fromSurvivor = (t: number) => t >= promotedAt - 25
        await after.until(`kill ${k + 1}: the survivor's first output`, () => seen.some(fromSurvivor), 120_000, () => peers[survivor]!.trouble())
        await after.stop()
        ttr.push(seen.find(fromSurvivor)! - killedAt)
        takeover.push(promotedAt - killedAt)
        say(`standby kill ${k + 1}: task on the survivor after ${promotedAt - killedAt} ms, first output after ${ttr.at(-1)} ms`)
        await peers[active]!.stop()
        start(active)
        active = await pair(`kill ${k + 1}: the killed instance back as the standby`)
        await sleep(2000)
      }
    } finally {
      await load.stop()
    }
    // The output must come to hold every event exactly once.
    const total = [...expected.values()].reduce((a, b) => a + b, 0)
    await all.until('Kafka Streams output complete', () => all.sum >= total, 120_000, trouble).catch(() => undefined)
    await sleep(2000)
    let lost = 0
    let duplicated = 0
    for (const [key, n] of expected) {
      const got = all.totals.get(key) ?? 0
      if (got < n) lost += n - got
      if (got > n) duplicated += got - n
    }
    await all.stop()
    return {
      method:
        `Kafka Streams (the same peer as in the side-by-side section) as two instances of one application on a one-partition input with num.standby.replicas=1, static membership and a session timeout of ${o.sessionTimeoutMs / 1000} s (the broker's default minimum), under ${o.rate} enriched events/s; ` +
        `the instance running the task is killed with SIGKILL ${o.kills} times, the survivor takes the task over from its standby replica, the killed one is started again as the standby. ` +
        'Time to recover: the kill → the survivor\'s first record visible to a read_committed reader of the output; task moved: the kill → the survivor reporting the active task.',
      figures: [
        { key: 'standby.kstreams.ttr', label: 'Kafka Streams standby: kill → first output of the survivor', unit: 'ms', summary: summarize(ttr), params: { sessionTimeoutMs: o.sessionTimeoutMs } },
        { key: 'standby.kstreams.taskMoved', label: 'Kafka Streams standby: kill → task active on the survivor', unit: 'ms', summary: summarize(takeover) },
        { key: 'standby.kstreams.exact', label: 'Kafka Streams: events lost + counted twice', unit: 'events', value: lost + duplicated, params: { kills: o.kills, events: total, lost, duplicated } },
      ],
    }
  } catch (err) {
    keep = true
    throw new Error(`${err instanceof Error ? err.message : String(err)} (Kafka Streams logs kept in ${dir})`, { cause: err })
  } finally {
    await Promise.all(peers.map((p) => p.stop()))
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
}
