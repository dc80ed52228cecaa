import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OutputFollower } from '@ridepulse/testkit'
import { ensureTopics, type KafkaSettings } from '@ridepulse/kafka'
import { backlogChunks, decodeTheirs, KEY_ZONES, Peer, peerEnv, type PeerSetup, produceChunks, stamp, type KStreamsOptions } from './setup.js'
import type { Experiment } from '../../results.js'
import { latency, WARMUP_MS } from './latency.js'
import { recovery } from './recovery.js'
import { throughput } from './throughput.js'

// The experiment: the peer started once, then throughput, latency and recovery, one after the other.

const ARCHIVE_FLAG = '-XX:ArchiveClassesAtExit='

/**
 * The peer's command line, with a class-data archive (README.md): made once
 * per build by a training run that drains a small backlog and stops cleanly,
 * so that no timed start pays for loading classes the archive could map.
 */
export async function peerCommand(script: string, brokers: string, dir: string, settings: KafkaSettings): Promise<{ command: string[]; archived: boolean }> {
  const runSh = (what: string) => execFileSync('bash', [script, what], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n')
  const command = runSh('command')
  if (command.some((a) => a.startsWith('-XX:SharedArchiveFile='))) return { command, archived: true }
  const training = runSh('archive-command')
  const target = training.find((a) => a.startsWith(ARCHIVE_FLAG))?.slice(ARCHIVE_FLAG.length)
  if (!target) return { command, archived: false }
  const name = `ksc-${stamp()}`
  await ensureTopics(settings, [{ name: `${name}.input`, partitions: 2 }, { name: `${name}.output`, partitions: 2 }])
  const events = await produceChunks(settings, backlogChunks(`${name}.input`, 2, 20_000))
  const follower = new OutputFollower(settings, `${name}.output`, 2, decodeTheirs)
  const peer = new Peer(training, peerEnv({ command: training, brokers, dir }, name, `${name}.input`, `${name}.output`, 2), join(dir, `${name}.log`))
  try {
    follower.start()
    await peer.running(120_000)
    await follower.until('class-data training run', () => follower.sum >= events, 120_000, () => peer.trouble())
  } finally {
    await follower.stop()
    await peer.stop()
  }
  // Written as the JVM exits; only a whole file is put in place.
  if (peer.child.signalCode !== 'SIGKILL' && existsSync(target)) renameSync(target, target.replace(/\.tmp$/, ''))
  const again = runSh('command')
  return { command: again, archived: again.some((a) => a.startsWith('-XX:SharedArchiveFile=')) }
}

/** The Kafka Streams release the peer is built on (its pom.xml). */
const streamsVersion = (o: KStreamsOptions) => /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(join(o.root, 'bench', 'peers', 'kafka-streams', 'pom.xml'), 'utf8'))?.[1] ?? 'unknown'

/** How it was measured, for the report. */
const methodText = (o: KStreamsOptions, archived: boolean) =>
  `The same job as OpB written as an ordinary Kafka Streams ${streamsVersion(o)} application (` + 'bench/peers/kafka-streams: exactly_once_v2, RocksDB window store, 1-minute event-time windows with a 15 s grace, the cut-off of OpB\'s default 10 s lateness plus 5 s out-of-orderness, commit interval 100 ms, static membership, its changelog compacted like OpB\'s' +
  (archived ? ', a class-data archive for a faster JVM start' : '') +
  '), run on the same broker and machine as OpB, one system at a time, on enriched events exactly as OpA writes them. ' +
  `Throughput: a backlog of ${o.backlog.toLocaleString('en')} events over ${o.partitions} partitions, drained by OpB ×${o.partitions} processes or by one JVM with ${o.partitions} stream threads, read from the same topic; timed from ready (OpB's first shard ready, Kafka Streams RUNNING) to the output, read_committed, holding every event; ${o.rounds} round(s) each, alternating which goes first, median. ` +
  'Both commit every 100 ms (OpB caps a transaction at 50,000 input records while it drains a backlog): see the transactions beside OpB\'s drain. ' +
  `Latency: ${o.latencySeconds} s at ${o.rate} events/s after ${WARMUP_MS / 1000} s of warm-up, produce → count visible to a read_committed reader of the output. ` +
  `Time to recover: one partition holding that many live window keys (${KEY_ZONES} zones × past minutes, one event each), built by each system from its own copy of the input, ${o.builds} time(s) per size; then ${o.liveRate} events/s flow in and, ${o.kills} times per build, the process is killed with SIGKILL and a replacement spawned at once. ` +
  `The first kill of a build comes once OpB has taken its first full snapshot after the build (a snapshot every ${o.snapshotIntervalMs / 1000} s, a full one every tenth), and as long after its build for Kafka Streams; each later kill once the replacement has caught up, after a pause of 1–2 s. ` +
  'Time to recover runs from the spawn to the first record of the replacement visible to a read_committed reader of the output, for both. ' +
  'At a first kill Kafka Streams finds no checkpoint (under exactly-once it writes none while it runs), wipes its store and restores the whole changelog; a replacement writes one as its restore ends, so a later kill restores only the changelog written since. The two cases are reported apart; restore phases come from Kafka Streams\' StateRestoreListener and OpB\'s /status. ' +
  'Ratios are OpB / Kafka Streams of figures from this run: below 1 means OpB takes less time, above 1 means OpB moves more events.'

export async function kafkaStreamsPeer(o: KStreamsOptions): Promise<Experiment> {
  const dir = mkdtempSync(join(tmpdir(), 'ridepulse-kstreams-'))
  const settings = { brokers: [o.brokers], clientId: 'bench-kstreams' }
  let keep = false
  try {
    // Built, and its class-data archive made, before anything is timed.
    const { command, archived } = await peerCommand(join(o.root, 'bench', 'peers', 'kafka-streams', 'run.sh'), o.brokers, dir, settings)
    const s: PeerSetup = { command, brokers: o.brokers, dir }
    const figures = [...(await throughput(o, s, settings)), ...(await latency(o, s, settings)), ...(await recovery(o, s, settings))]
    return { title: 'Side by side with Kafka Streams', method: methodText(o, archived), figures }
  } catch (err) {
    keep = true
    throw new Error(`${err instanceof Error ? err.message : String(err)} (logs of both systems kept in ${dir})`, { cause: err })
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
}

