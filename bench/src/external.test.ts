import { describe, expect, it } from 'vitest'
import type { ChaosRun, ClusterKill, ClusterRecoveryKill, ClusterStandbyRun, SoakRun } from '@ridepulse/testkit'
import { chaosExperiment, clusterRecoveryExperiment, clusterStandbyExperiment, soakExperiment } from './external.js'

const kill = (method: ClusterKill['method'], ttrMs: number, reason = 'connection-closed'): ClusterKill => ({ method, ttrMs, fromDeletionSeenMs: ttrMs - 30, detectToCommitMs: ttrMs - 100, reason, tailRecords: 7 })

const run: ClusterStandbyRun = {
  id: 'r1', kind: 'cluster-standby', startedAt: '', finishedAt: '', commit: 'abc', rate: 1000,
  host: { cores: 2, cpu: 'cpu', memoryGiB: 24, kernel: 'k', node: 'v24' },
  sizes: [
    { keys: 10_000, kills: [kill('kubectl', 300), kill('kubectl', 500, 'silent'), kill('chaos-mesh', 400)], verdict: { lost: 0, duplicated: 1, windows: 9, sent: 99 }, promotionsRecorded: 3, pairReadyMs: 5000 },
  ],
}

describe('clusterStandbyExperiment', () => {
  it('summarizes each size and method apart, with the reasons counted and the verdict per size', () => {
    const e = clusterStandbyExperiment(run)
    const f = (key: string) => e.figures.find((x) => x.key === key)
    expect(f('cluster.standby.ttr.kubectl.10000')).toMatchObject({ summary: { n: 2, max: 500 }, params: { keys: 10_000, method: 'kubectl', 'connection-closed': 1, silent: 1 } })
    expect(f('cluster.standby.ttr.chaos-mesh.10000')?.summary?.n).toBe(1)
    expect(f('cluster.standby.detect.kubectl.10000')?.params).toEqual({ tailRecordsMax: 7 })
    expect(f('cluster.standby.exact.10000')).toMatchObject({ value: 1, params: { kills: 3, promotionsRecorded: 3, duplicated: 1 } })
    expect(e.method).toContain('run `r1`')
  })

  it('leaves out a method that made no kill at a size', () => {
    const e = clusterStandbyExperiment({ ...run, sizes: [run.sizes[0]!, { ...run.sizes[0]!, keys: 100_000, kills: [kill('kubectl', 300)] }] })
    expect(e.figures.map((x) => x.key).filter((k) => k.includes('chaos-mesh'))).toEqual(['cluster.standby.ttr.chaos-mesh.10000', 'cluster.standby.fromSeen.chaos-mesh.10000', 'cluster.standby.detect.chaos-mesh.10000'])
    expect(e.figures.some((x) => x.key === 'cluster.standby.ttr.kubectl.100000')).toBe(true)
  })
})

describe('chaosExperiment', () => {
  const chaos: ChaosRun = {
    id: 'c1', kind: 'chaos', startedAt: '', commit: 'abc', host: run.host, mode: 'standby', shards: 3, rate: 500, seed: 1, exact: true,
    kills: [{ shard: 0, ttrMs: 200, takeover: { detectToCommitMs: 150, reason: 'connection-closed' } }, { shard: 2, ttrMs: 1200, takeover: { detectToCommitMs: 100, reason: 'silent' } }],
    verdict: { windows: 90, validEvents: 7000, lost: 0, duplicated: 0, lateEvents: 0 },
  }

  it('gives the kills, the takeovers by reason and the verdict; the command that took them', () => {
    const e = chaosExperiment(chaos)
    expect(e.figures.find((f) => f.key === 'chaos.standby.ttr')).toMatchObject({ summary: { n: 2, max: 1200 }, params: { 'connection-closed': 1, silent: 1 } })
    expect(e.figures.find((f) => f.key === 'chaos.standby.detect')?.summary?.n).toBe(2)
    expect(e.figures.find((f) => f.key === 'chaos.standby.exact')).toMatchObject({ value: 0, params: { kills: 2, windows: 90 } })
    expect(e.method).toContain('--kills 2 --standby --rate 500')
  })

  it('has no takeover figure for a run without standbys', () => {
    const e = chaosExperiment({ ...chaos, mode: 'local', kills: [{ shard: 1, ttrMs: 900 }] })
    expect(e.figures.map((f) => f.key)).toEqual(['chaos.local.ttr', 'chaos.local.exact'])
  })
})

describe('clusterRecoveryExperiment', () => {
  const k = (round: ClusterRecoveryKill['round'], ttrMs: number, nudged = false): ClusterRecoveryKill => ({ round, shard: 1, ttrMs, startedMs: ttrMs - 600, readyMs: ttrMs - 100, recordedMs: ttrMs - 50, kubeletNudged: nudged, snapshotKind: 'full', replayedRecords: 40 })

  it('gives each kill method its times and phases, and the verdict with the failed checks counted', () => {
    const e = clusterRecoveryExperiment({
      id: 'k1', kind: 'cluster-recovery', startedAt: '', finishedAt: '', commit: 'abc', host: run.host, shards: 3, rate: 300,
      kills: [k('chaos-mesh', 1800, true), k('chaos-mesh', 1600), k('kubectl', 1500)],
      verdict: { lost: 0, duplicated: 0, windows: 120, sent: 40_000 },
      failedChecks: ['kill 2: other pods disturbed: opa-0'],
    })
    const f = (key: string) => e.figures.find((x) => x.key === key)
    expect(f('cluster.recovery.ttr.chaos-mesh')).toMatchObject({ summary: { n: 2, max: 1800 }, params: { method: 'chaos-mesh', kubeletNudged: 1, fromLocalSnapshot: 2 } })
    expect(f('cluster.recovery.started.kubectl')?.summary?.max).toBe(900)
    expect(f('cluster.recovery.exact')).toMatchObject({ value: 0, params: { kills: 3, failedChecks: 1 } })
    expect(e.method).toContain('other pods disturbed: opa-0')
  })
})

describe('soakExperiment', () => {
  // 20 minutes sampled every 30 s: OpA flat at 200 MB, shard 0 growing from 300 to 395 MB; p99 from 100 to 130 ms.
  const memory = Array.from({ length: 40 }, (_, i) => ({ atS: 30 * (i + 1), rssMB: { 'opa-0': 200, 'opb-0': 300 + (i < 2 ? 0 : (95 * (i - 2)) / 37) } }))
  const latency = Array.from({ length: 20 }, (_, i) => ({ minute: i + 1, n: 1000, p50: 80, p99: 100 + (30 * i) / 19, max: 300 }))
  const soak: SoakRun = {
    id: 's1', kind: 'soak', startedAt: '', finishedAt: '', commit: 'abc', host: run.host, shards: 2, rate: 20_000, max: 40_000, sampleSeconds: 30,
    memory, latency, kills: [{ atS: 60, shard: 1, kind: 'outside', firstCommitMs: 700, caughtUpMs: 800 }], verdict: { lost: 0, duplicated: 0, windows: 500, sent: 1e6 },
  }

  it('compares the last tenth with the first after the first minute, names the process that moved most, and draws both over time', () => {
    const e = soakExperiment(soak)
    const f = (key: string) => e.figures.find((x) => x.key === key)
    expect(f('soak.rss.opa-0')?.value).toBe(0)
    expect(f('soak.rss.opb-0')?.value).toBeGreaterThan(25)
    expect(f('soak.rss.worst')).toMatchObject({ params: { process: 'opb-0' } })
    expect(f('soak.p99.drift')?.value).toBeGreaterThan(20)
    expect(f('soak.exact')).toMatchObject({ value: 0, params: { minutes: 20 } })
    expect(e.series?.map((x) => x.points.length)).toEqual([80, 40])
  })

  it('compares a shard killed every few minutes at the same age in each life, where its plain samples swing', () => {
    // Shard 1 killed every 120 s; each life grows from 100 MB by 1 MB a second, the same in every life.
    const kills = Array.from({ length: 9 }, (_, i) => ({ atS: 120 * (i + 1), shard: 1, kind: 'outside', firstCommitMs: 700, caughtUpMs: 800 }))
    const memory = Array.from({ length: 240 }, (_, i) => {
      const atS = 5 * (i + 1)
      return { atS, rssMB: { 'opb-1': 100 + (atS % 120) } }
    })
    const e = soakExperiment({ ...soak, memory, kills })
    const f = e.figures.find((x) => x.key === 'soak.rss.opb-1')
    expect(f).toMatchObject({ value: 0, params: { restarts: 9, firstMB: 150, lastMB: 150 } })
    expect(f?.label).toContain('50 s after each restart')
  })
})
