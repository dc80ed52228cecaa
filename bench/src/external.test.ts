import { describe, expect, it } from 'vitest'
import type { ChaosRun, ClusterKill, ClusterStandbyRun } from '@ridepulse/testkit'
import { chaosExperiment, clusterStandbyExperiment } from './external.js'

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
