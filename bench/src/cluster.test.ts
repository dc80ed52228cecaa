import { describe, expect, it } from 'vitest'
import type { ClusterKill, ClusterStandbyRun } from '@ridepulse/testkit'
import { clusterStandbyExperiment } from './cluster.js'

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
