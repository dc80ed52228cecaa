#!/usr/bin/env node
/**
 * Local recovery of one OpB shard at a given state size, on the real broker:
 *
 *   npm run bench:recovery [-- --keys 10000,100000,1000000 --trials 10 --tail 5000]
 *
 * For each size it builds a shard's history (a changelog of `keys` window
 * records written transactionally, a store holding them, a full snapshot of
 * that store, then a tail of `tail` more changelog records past the
 * snapshot), then kills -9 and restarts the real OpB process `trials` times
 * and reads each recovery's phases from /status. Then, with the snapshot
 * copied to a local S3-compatible store (MinIO), it wipes the shard's whole
 * volume `remote-trials` times and measures the restore from the store
 * plus the tail. Finally it deletes the snapshots once and measures a
 * replay of the whole changelog.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { parseWorkerEnv, type OpbConfig } from '@ridepulse/contracts'
import { loadRemoteSnapshots } from '@ridepulse/worker'
import { getJson, LocalPipeline, runTeardown, startLocalKafka, startObjectStore, stopOnSignals, waitReady } from '@ridepulse/testkit'
import { buildShardHistory } from './history.js'

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000,100000,1000000' },
    trials: { type: 'string', default: '10' },
    tail: { type: 'string', default: '5000' },
    /** Restores of a wiped volume from the object store's copy, per size (0: none, and no store started). */
    'remote-trials': { type: 'string', default: '3' },
    port: { type: 'string', default: '29292' },
    /** Also write every sample as JSON to this file (for `npm run bench`). */
    json: { type: 'string' },
  },
})
const sizes = args.keys.split(',').map(Number)
const trials = Number(args.trials)
const tail = Number(args.tail)
const remoteTrials = Number(args['remote-trials'])

interface RecoveryStatus {
  lastRecovery: {
    timeToRecoverMs: number
    phasesMs: { fence: number; snapshotLoad: number; replay: number; resume: number }
    replayedRecords: number
    replayedBytes: number
    snapshot: { snapshotId: string; bytes: number; source: 'local' | 'remote'; downloadMs?: number } | null
    keys: number
  }
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? 0
}
const out = (s: string) => process.stdout.write(`${s}\n`)

interface RemoteSample {
  ttrMs: number[]
  downloadMs: number[]
  snapshotLoadMs: number[]
  replayMs: number[]
}
const samples: { keys: number; snapshotBytes: number; ttrMs: number[]; fenceMs: number[]; snapshotLoadMs: number[]; replayMs: number[]; tailRecords: number; remote?: RemoteSample; fullReplay: { records: number; ms: number; ttrMs: number } }[] = []
stopOnSignals()
const kafka = startLocalKafka(Number(args.port))
const settings = { brokers: [kafka.brokers], clientId: 'bench-recovery' }
const objects = remoteTrials > 0 ? await startObjectStore() : undefined
// The benchmark's own copies use the same credentials as the workers (the AWS SDK reads them from the environment).
if (objects) Object.assign(process.env, objects.credentials)
try {
  out(`# local recovery of one OpB shard (Kafka on loopback, ${trials} kill -9 trials per size, changelog tail ${tail} records)`)
  out('| live keys | snapshot MB | ttr p50 ms | ttr p95 ms | ttr max ms | fence p50 | load p50 | replay p50 | records replayed | full replay ms | replay rec/s |')
  out('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const n of sizes) {
    const pipeline = `bench-${n}-${Date.now().toString(36)}`
    const dataDir = mkdtempSync(join(tmpdir(), 'ridepulse-bench-'))
    const shardDir = join(dataDir, 'opb-0')
    const { snapshot: snap } = await buildShardHistory(settings, pipeline, shardDir, n, tail)

    const p = new LocalPipeline({
      brokers: kafka.brokers,
      pipeline,
      shards: 1,
      ordersPartitions: 1,
      opaInstances: 0,
      dataDir,
      httpBase: 27000,
      env: { SNAPSHOT_INTERVAL_MS: '3600000', RETENTION_MS: String(10 * 365 * 86_400_000), IDLE_TIMEOUT_MS: '3600000', LOG_LEVEL: 'warn' },
    })
    const ttr: number[] = []
    const phases = { fence: [] as number[], snapshotLoad: [] as number[], replay: [] as number[] }
    let replayed = 0
    for (let t = 0; t < trials; t++) {
      const w = p.startOpb(0)
      const readyAt = await waitReady(w, 300_000)
      const st = await getJson<RecoveryStatus>(w.port, '/status')
      if (!st.lastRecovery.snapshot) throw new Error(`trial ${t}: recovered without the snapshot`)
      if (st.lastRecovery.keys !== n) throw new Error(`trial ${t}: ${st.lastRecovery.keys} keys restored, expected ${n}`)
      ttr.push(readyAt - w.startedAt)
      phases.fence.push(st.lastRecovery.phasesMs.fence)
      phases.snapshotLoad.push(st.lastRecovery.phasesMs.snapshotLoad)
      phases.replay.push(st.lastRecovery.phasesMs.replay)
      replayed = st.lastRecovery.replayedRecords
      await p.killOpb(0)
    }
    // The volume lost: nothing on it; the snapshot's copy in the object store, then the tail.
    let remote: RemoteSample | undefined
    if (objects) {
      const parsed = parseWorkerEnv({ ROLE: 'opb', SHARD: '0', DATA_DIR: shardDir, PIPELINE: pipeline, ...objects.env })
      if (!parsed.ok) throw new Error(parsed.issues.join('; '))
      const copies = await loadRemoteSnapshots(parsed.config as OpbConfig & { REMOTE_SNAPSHOTS_BUCKET: string })
      const up = await copies.upload(join(shardDir, 'snapshots', snap.snapshotId), snap, Date.now)
      copies.close()
      out(`copied ${snap.snapshotId} (${(up.bytes / 1e6).toFixed(1)} MB) to the object store in ${up.ms} ms`)
      remote = { ttrMs: [], downloadMs: [], snapshotLoadMs: [], replayMs: [] }
      for (let t = 0; t < remoteTrials; t++) {
        rmSync(shardDir, { recursive: true, force: true })
        const w = p.startOpb(0, { ...objects.env, ...objects.credentials })
        const readyAt = await waitReady(w, 600_000)
        const st = (await getJson<RecoveryStatus>(w.port, '/status')).lastRecovery
        if (st.snapshot?.source !== 'remote') throw new Error(`remote trial ${t}: recovered from ${st.snapshot?.source ?? 'no snapshot'}`)
        if (st.keys !== n) throw new Error(`remote trial ${t}: ${st.keys} keys restored, expected ${n}`)
        remote.ttrMs.push(readyAt - w.startedAt)
        remote.downloadMs.push(st.snapshot.downloadMs ?? 0)
        remote.snapshotLoadMs.push(st.phasesMs.snapshotLoad)
        remote.replayMs.push(st.phasesMs.replay)
        await p.killOpb(0)
      }
    }
    // Once without any snapshot: the whole changelog is replayed.
    rmSync(shardDir, { recursive: true, force: true })
    const w = p.startOpb(0)
    const fullReadyAt = await waitReady(w, 600_000)
    const full = (await getJson<RecoveryStatus>(w.port, '/status')).lastRecovery
    await p.killOpb(0)
    const rate = Math.round(full.replayedRecords / (full.phasesMs.replay / 1000))
    out(
      `| ${n} | ${(snap.sizeBytes / 1e6).toFixed(1)} | ${pct(ttr, 0.5)} | ${pct(ttr, 0.95)} | ${Math.max(...ttr)} | ${pct(phases.fence, 0.5)} | ${pct(phases.snapshotLoad, 0.5)} | ${pct(phases.replay, 0.5)} | ${replayed} | ${full.phasesMs.replay} | ${rate} |`,
    )
    if (remote) out(`| ${n} | lost volume, restored from the object store: ttr p50 ${pct(remote.ttrMs, 0.5)} ms (max ${Math.max(...remote.ttrMs)}), download p50 ${pct(remote.downloadMs, 0.5)} ms, load p50 ${pct(remote.snapshotLoadMs, 0.5)} ms, replay p50 ${pct(remote.replayMs, 0.5)} ms; lost volume, no store: ttr ${fullReadyAt - w.startedAt} ms |`)
    samples.push({ keys: n, snapshotBytes: snap.sizeBytes, ttrMs: ttr, fenceMs: phases.fence, snapshotLoadMs: phases.snapshotLoad, replayMs: phases.replay, tailRecords: replayed, ...(remote ? { remote } : {}), fullReplay: { records: full.replayedRecords, ms: full.phasesMs.replay, ttrMs: fullReadyAt - w.startedAt } })
    rmSync(dataDir, { recursive: true, force: true })
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ trials, tail, samples }))
  out('\nttr: replacement process spawned → /readyz 200 (Node start, fence, snapshot load, changelog tail replay, resume).')
} finally {
  await objects?.stop()
  await runTeardown()
}
