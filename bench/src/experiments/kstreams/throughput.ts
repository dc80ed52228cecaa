import { join } from 'node:path'
import { decodeOurs, getJson, OutputFollower, waitReady } from '@ridepulse/testkit'
import { ensureTopics, type KafkaSettings } from '@ridepulse/kafka'
import { summarize } from '../../stats.js'
import type { Figure } from '../../results.js'
import { ratio } from '../kstreams-lines.js'
import { anyTrouble, backlogChunks, bothInTurn, decodeTheirs, opbPipeline, opbTopics, opbTrouble, Peer, peerEnv, type PeerSetup, produceChunks, say, stamp, type KStreamsOptions } from './setup.js'

/** Throughput: the same backlog of enriched events drained by OpB and by Kafka Streams, rounds alternated. */

interface Drain {
  /** Backlog events / (all output committed − first process ready). */
  rate: number
  spawnToDoneMs: number
  readyMs: number
  /** OpB: transactions committed by its shards during the drain. */
  commits?: number
}

async function drainOurs(o: KStreamsOptions, settings: KafkaSettings, name: string, dir: string, input: string, events: number): Promise<Drain> {
  await opbTopics(settings, name, o.partitions)
  const p = opbPipeline(o, name, o.partitions, dir, input)
  const follower = new OutputFollower(settings, p.topics.TOPIC_OUTPUT, o.partitions, decodeOurs)
  try {
    follower.start()
    const workers = Array.from({ length: o.partitions }, (_, s) => p.startOpb(s))
    const spawnedAt = Math.min(...workers.map((w) => w.startedAt))
    // From the first shard ready: it starts counting at once (a conservative start for us).
    const readyAt = Math.min(...(await Promise.all(workers.map((w) => waitReady(w, 120_000)))))
    const doneAt = await follower.until('OpB drain', () => follower.sum >= events, 600_000, anyTrouble(workers.map(opbTrouble)))
    // How many transactions the drain took: OpB commits every 100 ms or every COMMIT_MAX_RECORDS input records.
    const commits = (await Promise.all(workers.map((w) => getJson<{ commits: number }>(w.port, '/status')))).reduce((n, st) => n + st.commits, 0)
    return { rate: Math.round(events / ((doneAt - readyAt) / 1000)), spawnToDoneMs: doneAt - spawnedAt, readyMs: readyAt - spawnedAt, commits }
  } finally {
    await follower.stop()
    await p.stopAll()
  }
}

async function drainTheirs(o: KStreamsOptions, s: PeerSetup, settings: KafkaSettings, name: string, input: string, events: number): Promise<Drain> {
  const output = `${name}.output`
  await ensureTopics(settings, [{ name: output, partitions: o.partitions }])
  const follower = new OutputFollower(settings, output, o.partitions, decodeTheirs)
  const peer = new Peer(s.command, peerEnv(s, name, input, output, o.partitions), join(s.dir, `${name}.log`))
  try {
    follower.start()
    const readyAt = await peer.running(120_000)
    const doneAt = await follower.until('Kafka Streams drain', () => follower.sum >= events, 600_000, () => peer.trouble())
    return { rate: Math.round(events / ((doneAt - readyAt) / 1000)), spawnToDoneMs: doneAt - peer.startedAt, readyMs: readyAt - peer.startedAt }
  } finally {
    await follower.stop()
    await peer.stop()
  }
}

export const median = (xs: number[]) => summarize(xs).p50

export async function throughput(o: KStreamsOptions, s: PeerSetup, settings: KafkaSettings): Promise<Figure[]> {
  const name = `kst-${stamp()}`
  const topics = await opbTopics(settings, name, o.partitions)
  const events = await produceChunks(settings, backlogChunks(topics.TOPIC_ENRICHED, o.partitions, o.backlog))
  say(`throughput: ${events} enriched events in ${topics.TOPIC_ENRICHED}`)
  const ours: Drain[] = []
  const theirs: Drain[] = []
  for (let r = 0; r < o.rounds; r++) {
    // Both read the very same topic from its start; who goes first alternates.
    const runOurs = async () => ours.push(await drainOurs(o, settings, `${name}-o${r}`, s.dir, topics.TOPIC_ENRICHED, events))
    const runTheirs = async () => theirs.push(await drainTheirs(o, s, settings, `${name}-t${r}`, topics.TOPIC_ENRICHED, events))
    await bothInTurn(r, runOurs, runTheirs)
    say(`throughput round ${r + 1}: ours ${ours.at(-1)!.rate}/s, Kafka Streams ${theirs.at(-1)!.rate}/s`)
  }
  const fig = (who: 'ours' | 'theirs', d: Drain[]): Figure[] => [
    { key: `kstreams.${who}.throughput`, label: `${who === 'ours' ? 'OpB' : 'Kafka Streams'}: backlog drained (ready → all output committed)`, unit: 'events/s', value: Math.round(median(d.map((x) => x.rate))), params: { events, partitions: o.partitions, rounds: d.length, min: Math.min(...d.map((x) => x.rate)), max: Math.max(...d.map((x) => x.rate)) } },
    {
      key: `kstreams.${who}.drain`,
      label: `${who === 'ours' ? 'OpB' : 'Kafka Streams'}: spawn → all output committed`,
      unit: 'ms',
      value: Math.round(median(d.map((x) => x.spawnToDoneMs))),
      params: { events, readyMs: Math.round(median(d.map((x) => x.readyMs))), ...(d[0]?.commits !== undefined ? { transactions: Math.round(median(d.map((x) => x.commits ?? 0))) } : {}) },
    },
  ]
  const r = ratio(median(ours.map((x) => x.rate)), median(theirs.map((x) => x.rate)))
  return [
    ...fig('ours', ours),
    ...fig('theirs', theirs),
    ...(r === undefined ? [] : [{ key: 'kstreams.ratio.throughput', label: 'throughput, OpB / Kafka Streams', unit: '×', value: r, params: { events, partitions: o.partitions } }]),
  ]
}

