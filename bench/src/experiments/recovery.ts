import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onTeardown } from '@ridepulse/testkit'
import type { Experiment, Figure } from '../results.js'
import { summarize } from '../stats.js'

interface RecoverySamples {
  trials: number
  tail: number
  samples: {
    keys: number
    snapshotBytes: number
    ttrMs: number[]
    fenceMs: number[]
    snapshotLoadMs: number[]
    replayMs: number[]
    tailRecords: number
    remote?: { ttrMs: number[]; downloadMs: number[]; snapshotLoadMs: number[]; replayMs: number[] }
    fullReplay: { records: number; ms: number; ttrMs?: number }
  }[]
}

/** Design test 1, on one shard: the worker's recovery benchmark at each state size, its samples summarized here. */
export async function localRecovery(o: { root: string; keys: number[]; trials: number; tail: number; port: number }): Promise<Experiment> {
  const dir = mkdtempSync(join(tmpdir(), 'ridepulse-bench-recovery-'))
  const file = join(dir, 'samples.json')
  try {
    await runNode([join(o.root, 'bench', 'dist', 'worker', 'recovery.js'), '--keys', o.keys.join(','), '--trials', String(o.trials), '--tail', String(o.tail), '--port', String(o.port), '--json', file])
    const r = JSON.parse(readFileSync(file, 'utf8')) as RecoverySamples
    const figures: Figure[] = []
    for (const s of r.samples) {
      const params = { keys: s.keys, snapshotMB: Math.round(s.snapshotBytes / 1e5) / 10, tailRecords: s.tailRecords }
      figures.push({ key: `recovery.ttr.${s.keys}`, label: `time to recover, ${s.keys.toLocaleString('en')} keys`, unit: 'ms', summary: summarize(s.ttrMs), params })
      figures.push({ key: `recovery.fence.${s.keys}`, label: `fence, ${s.keys.toLocaleString('en')} keys`, unit: 'ms', summary: summarize(s.fenceMs), params })
      figures.push({ key: `recovery.load.${s.keys}`, label: `snapshot load, ${s.keys.toLocaleString('en')} keys`, unit: 'ms', summary: summarize(s.snapshotLoadMs), params })
      figures.push({ key: `recovery.replay.${s.keys}`, label: `changelog tail replay, ${s.keys.toLocaleString('en')} keys`, unit: 'ms', summary: summarize(s.replayMs), params })
      if (s.remote) {
        figures.push({ key: `recovery.remoteTtr.${s.keys}`, label: `lost volume, restored from the object store's copy, ${s.keys.toLocaleString('en')} keys`, unit: 'ms', summary: summarize(s.remote.ttrMs), params })
        figures.push({ key: `recovery.remoteDownload.${s.keys}`, label: `download of the copy, ${s.keys.toLocaleString('en')} keys`, unit: 'ms', summary: summarize(s.remote.downloadMs), params })
      }
      if (s.fullReplay.ttrMs !== undefined) {
        figures.push({ key: `recovery.fullReplayTtr.${s.keys}`, label: `lost volume, no copy: whole changelog replayed, ${s.keys.toLocaleString('en')} keys`, unit: 'ms', value: s.fullReplay.ttrMs, params: { records: s.fullReplay.records } })
      }
      figures.push({ key: `recovery.fullReplayRate.${s.keys}`, label: `full changelog replay, ${s.keys.toLocaleString('en')} records`, unit: 'records/s', value: Math.round(s.fullReplay.records / (s.fullReplay.ms / 1000)), params: { records: s.fullReplay.records, ms: s.fullReplay.ms } })
    }
    return {
      title: 'Local recovery of one OpB shard',
      method:
        `For each state size a shard's history is built (a changelog of that many window keys written transactionally, a store holding them, a full snapshot, then ${r.tail.toLocaleString('en')} more changelog records), ` +
        `then the real OpB process is killed with SIGKILL and restarted ${r.trials} times. Time to recover: replacement process spawned → ready (Node start-up, fence, snapshot verified and loaded, changelog tail replayed, input resumed); phases from the worker's /status. ` +
        'Then the snapshot is copied to a local S3-compatible store (MinIO built from source) and the shard\'s whole volume is wiped before each of a few restarts: the shard restores from the store\'s copy plus the tail. ' +
        'Last, with the volume wiped and no store, the whole changelog is replayed once.',
      figures,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Runs a Node script to its end; a harness stopped by a signal stops it (and it, its own broker) first. */
function runNode(args: string[]): Promise<void> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] })
  const forget = onTeardown(() => {
    child.kill('SIGTERM')
    return new Promise((resolve) => child.once('exit', resolve))
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      forget()
      if (code === 0) resolve()
      else reject(new Error(`${args[0]} exited with ${code ?? signal}`))
    })
  })
}
