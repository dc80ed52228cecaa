import { join } from 'node:path'
import { decodeOurs, LatencyTracker, OutputFollower, waitReady } from '@ridepulse/testkit'
import { setTimeout as sleep } from 'node:timers/promises'
import { ensureTopics, type KafkaSettings } from '@ridepulse/kafka'
import { summarize, type Summary } from '../../stats.js'
import type { Figure } from '../../results.js'
import { ratio } from '../kstreams-lines.js'
import { anyTrouble, decodeTheirs, opbPipeline, opbTopics, opbTrouble, Peer, peerEnv, type PeerSetup, producedKeys, say, stamp, startEnrichedLoad, type KStreamsOptions } from './setup.js'

/** End-to-end latency at a fixed offered rate: produce → visible to a read_committed reader of each system's output. */

export const WARMUP_MS = 3000

async function latencyOf(o: KStreamsOptions, settings: KafkaSettings, input: string, follower: OutputFollower, tracker: LatencyTracker, trouble: () => string | undefined): Promise<number> {
  follower.start()
  const load = startEnrichedLoad({ settings, topic: input, partitions: o.partitions, rate: o.rate, seed: 5, onBatch: (events, at) => tracker.produced(producedKeys(events), at) })
  const deadline = Date.now() + WARMUP_MS + o.latencySeconds * 1000
  while (Date.now() < deadline) {
    const t = trouble()
    if (t) throw new Error(t)
    await sleep(200)
  }
  const sent = await load.stop()
  await sleep(2000) // the last commits
  await follower.stop()
  return sent
}

export async function latency(o: KStreamsOptions, s: PeerSetup, settings: KafkaSettings): Promise<Figure[]> {
  const out: Figure[] = []
  const sums: Record<'ours' | 'theirs', Summary | undefined> = { ours: undefined, theirs: undefined }
  {
    const name = `ksl-o-${stamp()}`
    const topics = await opbTopics(settings, name, o.partitions)
    const p = opbPipeline(o, name, o.partitions, s.dir)
    try {
      const workers = Array.from({ length: o.partitions }, (_, sh) => p.startOpb(sh))
      await Promise.all(workers.map((w) => waitReady(w, 120_000)))
      const tracker = new LatencyTracker(Date.now() + WARMUP_MS)
      const follower = new OutputFollower(settings, topics.TOPIC_OUTPUT, o.partitions, decodeOurs, (k, g, at) => tracker.visible(k, g, at))
      const sent = await latencyOf(o, settings, topics.TOPIC_ENRICHED, follower, tracker, anyTrouble(workers.map(opbTrouble)))
      sums.ours = summarize(tracker.samples)
      out.push({ key: 'kstreams.ours.latency', label: `OpB: end-to-end latency at ${o.rate} events/s`, unit: 'ms', summary: sums.ours, params: { offered: o.rate, sent, seconds: o.latencySeconds } })
    } finally {
      await p.stopAll()
    }
  }
  {
    const name = `ksl-t-${stamp()}`
    const input = `${name}.input`
    const output = `${name}.output`
    await ensureTopics(settings, [{ name: input, partitions: o.partitions }, { name: output, partitions: o.partitions }])
    const peer = new Peer(s.command, peerEnv(s, name, input, output, o.partitions), join(s.dir, `${name}.log`))
    try {
      await peer.running(120_000)
      const tracker = new LatencyTracker(Date.now() + WARMUP_MS)
      const follower = new OutputFollower(settings, output, o.partitions, decodeTheirs, (k, g, at) => tracker.visible(k, g, at))
      const sent = await latencyOf(o, settings, input, follower, tracker, () => peer.trouble())
      sums.theirs = summarize(tracker.samples)
      out.push({ key: 'kstreams.theirs.latency', label: `Kafka Streams: end-to-end latency at ${o.rate} events/s`, unit: 'ms', summary: sums.theirs, params: { offered: o.rate, sent, seconds: o.latencySeconds } })
    } finally {
      await peer.stop()
    }
  }
  say(`latency at ${o.rate}/s: ours p50 ${sums.ours?.p50} p99 ${sums.ours?.p99} ms, Kafka Streams p50 ${sums.theirs?.p50} p99 ${sums.theirs?.p99} ms`)
  for (const q of ['p50', 'p99'] as const) {
    const r = ratio(sums.ours?.[q], sums.theirs?.[q])
    if (r !== undefined) out.push({ key: `kstreams.ratio.latency.${q}`, label: `latency ${q}, OpB / Kafka Streams`, unit: '×', value: r, params: { offered: o.rate } })
  }
  return out
}

