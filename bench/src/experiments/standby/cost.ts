import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { decodeOurs, getJson, OutputFollower, waitReady, type WorkerProcess } from '@ridepulse/testkit'
import { endOffsets } from '@ridepulse/kafka'
import type { Figure } from '../../results.js'
import { bothInTurn, keyChunks, opbPipeline, opbTopics, opbTrouble, anyTrouble, produceChunks, say, stamp } from '../kstreams/setup.js'

export interface CostOptions {
  brokers: string
  /** Enriched events in the backlog each round drains, each of its own window: as many live keys and changelog records. */
  backlog: number
  /** Drains with and without the standby each, alternating which goes first. */
  rounds: number
  httpBase: number
}

interface Drain {
  rate: number
  /** Peak resident memory (VmHWM) of the owner and, paired, of the standby; MB. */
  ownerMb: number
  standbyMb?: number
  /** Disk used by each process's data directory once the standby has caught up; MB. */
  ownerDiskMb: number
  standbyDiskMb?: number
  /** Changelog records the drain wrote, and those the standby read. */
  changelogRecords: number
  standbyRead?: number
}

const MB = 1024 * 1024
/** MB to a tenth. */
const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10
/** The middle value (the lower of the two middle ones); plain, as these are a few whole values, not a distribution. */
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0

/** Peak resident set of a live process, from the kernel's own count. */
function peakRssMb(w: WorkerProcess): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${w.child.pid}/status`, 'utf8'))
  return m ? mb(Number(m[1]) * 1024) : 0
}

/** Bytes a directory takes on disk (allocated blocks, so a sparse LMDB map counts only what it holds). */
function diskBytes(path: string): number {
  const st = lstatSync(path)
  if (!st.isDirectory()) return st.blocks * 512
  return readdirSync(path).reduce((n, e) => n + diskBytes(join(path, e)), st.blocks * 512)
}

interface StandbyView {
  phase: string
  standby?: { position: number; lagRecords: number }
}

/** One drain of the backlog by one shard, alone or with a standby following it. */
async function drain(o: CostOptions, input: string, events: number, paired: boolean, name: string, dir: string): Promise<Drain> {
  const settings = { brokers: [o.brokers], clientId: 'bench-standby-cost' }
  const topics = await opbTopics(settings, name, 1)
  const standbyEnv: Record<string, string> = paired ? { STANDBY_ENABLED: 'true', STANDBY_HEARTBEAT_MS: '100', STANDBY_LEASE_MS: '1000' } : {}
  const p = opbPipeline(o, name, 1, dir, input, { SNAPSHOT_INTERVAL_MS: '2000', ...standbyEnv })
  const dirs = [join(dir, name, 'slot-0'), join(dir, name, 'slot-1')]
  const procs: WorkerProcess[] = []
  const follower = new OutputFollower(settings, topics.TOPIC_OUTPUT, 1, decodeOurs)
  try {
    follower.start()
    procs.push(p.startOpb(0, { DATA_DIR: dirs[0]!, STANDBY_SLOT: '0' }, o.httpBase))
    if (paired) procs.push(p.startOpb(0, { DATA_DIR: dirs[1]!, STANDBY_SLOT: '1' }, o.httpBase + 1))
    const readyAt = await waitReady(procs[0]!, 120_000)
    const doneAt = await follower.until(`drain (${paired ? 'with' : 'without'} a standby)`, () => follower.sum >= events, 600_000, anyTrouble(procs.map(opbTrouble)))
    const [changelogRecords] = await endOffsets(settings, topics.TOPIC_CHANGELOG, 1)
    const out: Drain = { rate: Math.round(events / ((doneAt - readyAt) / 1000)), ownerMb: peakRssMb(procs[0]!), ownerDiskMb: 0, changelogRecords: changelogRecords ?? 0 }
    if (paired) {
      // The standby's own view once it has read the whole changelog.
      let view: StandbyView | undefined
      for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(100)) {
        view = await getJson<StandbyView>(procs[1]!.port, '/status').catch(() => undefined)
        if (view?.phase === 'standby' && view.standby && view.standby.lagRecords === 0 && view.standby.position >= out.changelogRecords) break
      }
      if (view?.phase !== 'standby' || !view.standby) throw new Error(`the standby never followed (its log: ${procs[1]!.logFile})`)
      out.standbyRead = view.standby.position
      out.standbyMb = peakRssMb(procs[1]!)
      // A snapshot interval, so that both have written what they keep.
      await sleep(2500)
      out.standbyDiskMb = mb(diskBytes(dirs[1]!))
    } else {
      await sleep(2500)
    }
    out.ownerDiskMb = mb(diskBytes(dirs[0]!))
    return out
  } finally {
    await follower.stop()
    for (const w of procs) if (w.child.exitCode === null) w.child.kill('SIGTERM')
    await Promise.all(procs.map((w) => w.exited))
    await p.stopAll()
  }
}

/**
 * What a standby costs: one OpB shard drains the same backlog of enriched
 * events alone and with a standby following its changelog, rounds
 * alternated; the owner's throughput, each process's peak memory and disk,
 * and the changelog records the standby reads.
 */
export async function standbyCost(o: CostOptions): Promise<{ method: string; figures: Figure[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'ridepulse-standby-cost-'))
  const settings = { brokers: [o.brokers], clientId: 'bench-standby-cost' }
  try {
    const name = `sbc-${stamp()}`
    const topics = await opbTopics(settings, name, 1)
    const events = await produceChunks(settings, keyChunks(topics.TOPIC_ENRICHED, o.backlog))
    const alone: Drain[] = []
    const paired: Drain[] = []
    for (let r = 0; r < o.rounds; r++) {
      const runAlone = async () => alone.push(await drain(o, topics.TOPIC_ENRICHED, events, false, `${name}-a${r}`, dir))
      const runPaired = async () => paired.push(await drain(o, topics.TOPIC_ENRICHED, events, true, `${name}-p${r}`, dir))
      await bothInTurn(r, runAlone, runPaired)
      say(`standby cost round ${r + 1}: alone ${alone.at(-1)!.rate}/s, with a standby ${paired.at(-1)!.rate}/s`)
    }
    const rateAlone = median(alone.map((d) => d.rate))
    const ratePaired = median(paired.map((d) => d.rate))
    const changelog = median(paired.map((d) => d.changelogRecords))
    return {
      method:
        `What a standby costs: one OpB shard drains a backlog of ${events.toLocaleString('en')} enriched events on one partition, each event in a window of its own (as many live keys, and a changelog record per event: the most the standby can have to follow), alone and with a standby process following its changelog (STANDBY_ENABLED), ${o.rounds} round(s) each, alternating which goes first, medians. ` +
        'Throughput: events / (owner ready → all output committed, read_committed). Memory: each process\'s peak resident set (VmHWM). Disk: each data directory\'s allocated blocks once the standby has caught up and both have taken a snapshot. ' +
        'Changelog reads: records the standby read, against the records the drain wrote (without a standby nobody reads the changelog while the shard runs).',
      figures: [
        { key: 'standby.cost.throughput.alone', label: 'owner throughput, no standby', unit: 'events/s', value: rateAlone, params: { events, rounds: alone.length, min: Math.min(...alone.map((d) => d.rate)), max: Math.max(...alone.map((d) => d.rate)) } },
        { key: 'standby.cost.throughput.paired', label: 'owner throughput, with a standby following', unit: 'events/s', value: ratePaired, params: { events, rounds: paired.length, min: Math.min(...paired.map((d) => d.rate)), max: Math.max(...paired.map((d) => d.rate)), ratio: Number((ratePaired / rateAlone).toFixed(3)) } },
        { key: 'standby.cost.memory.owner', label: 'owner peak memory (no standby / with one)', unit: 'MB', value: median(paired.map((d) => d.ownerMb)), params: { alone: median(alone.map((d) => d.ownerMb)) } },
        { key: 'standby.cost.memory.standby', label: 'standby peak memory', unit: 'MB', value: median(paired.map((d) => d.standbyMb ?? 0)) },
        { key: 'standby.cost.disk.owner', label: 'owner data directory', unit: 'MB', value: median(paired.map((d) => d.ownerDiskMb)), params: { alone: median(alone.map((d) => d.ownerDiskMb)) } },
        { key: 'standby.cost.disk.standby', label: 'standby data directory', unit: 'MB', value: median(paired.map((d) => d.standbyDiskMb ?? 0)) },
        { key: 'standby.cost.changelogReads', label: 'changelog records read by the standby', unit: 'records', value: median(paired.map((d) => d.standbyRead ?? 0)), params: { written: changelog, perEvent: Number((changelog / events).toFixed(3)) } },
      ],
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
