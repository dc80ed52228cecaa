import { beforeAll, describe, expect, it } from 'vitest'
import { isWorker } from '../src/prometheus.js'
import { optionsFromEnv, runE2e, type E2eReport } from '../src/scenario.js'

// One scenario, run once (several minutes); each test states one property of it.
let report: E2eReport
const opts = optionsFromEnv(process.env, (line) => process.stderr.write(`${line}\n`))

beforeAll(async () => {
  report = await runE2e(opts)
})

describe('OpB pods killed on a real cluster (our chart, our images, the sample resource) under load', () => {
  it('kills as many OpB pods as asked, in every round', () => {
    expect(report.kills.length).toBe(opts.killsPerRound * opts.rounds.length)
    for (const round of opts.rounds) expect(report.kills.filter((k) => k.round === round).length).toBe(opts.killsPerRound)
  })

  it('passes helm test: the operator answers on its Service and the API server serves its resource', () => {
    expect(report.chart.helmTest.ok, report.chart.helmTest.output).toBe(true)
    expect(report.chart.helmTest.output).toMatch(/Phase:\s+Succeeded/)
  })

  it.skipIf(opts.keep)('uninstalls with the sample resource: its pre-delete hook removes it, nothing stays Terminating', () => {
    expect(report.chart.uninstall?.ok, report.chart.uninstall?.output).toBe(true)
    expect(report.chart.uninstall?.sampleGone).toBe(true)
  })

  it('replaces only the killed pod: the other shards and every OpA pod keep their uid and restart count', () => {
    for (const k of report.kills) expect(k.othersDisturbed, `kill of ${k.pod} (${k.round})`).toEqual([])
    expect(report.opaDisturbed).toEqual([])
  })

  it('shows each shard\'s lag in the resource\'s status, read by the operator from the workers under load', () => {
    expect(report.lag.map((l) => l.shard).sort()).toEqual([0, 1, 2])
    for (const { shard, lag } of report.lag) {
      expect(lag, `shard ${shard}`).toMatchObject({ records: expect.any(Number), inputSeconds: expect.any(Number), lateEventsPerSecond: expect.any(Number) })
      expect(lag?.sinceCommitSeconds, `shard ${shard}`).toBeLessThan(30)
    }
  })

  it('feeds a real Prometheus that found the pods through the API server: every dashboard panel has data, the chart\'s alerts are loaded', () => {
    expect(report.monitoring.rules).toBe(10)
    // Every worker's pod at least (the operator's replicas too, mostly).
    expect(report.monitoring.targetsUp.filter(isWorker).length, report.monitoring.targetsUp.join(', ')).toBeGreaterThanOrEqual(4)
    expect(report.monitoring.panels.length).toBeGreaterThanOrEqual(16)
    expect(report.monitoring.panels.filter((p) => p.series === 0)).toEqual([])
  })

  it('starts the replacement on the same claim', () => {
    for (const k of report.kills) expect(k.sameClaim, `kill of ${k.pod} (${k.round}), claim ${k.claim}`).toBe(true)
  })

  it('restores from the local snapshot, not a full replay of the changelog', () => {
    for (const k of report.kills) {
      expect(k.worker.snapshotId, `kill of ${k.pod} (${k.round})`).toBeTruthy()
      expect(k.worker.changelogFrom).toBeGreaterThan(0)
    }
  })

  it("records each recovery, with its time to recover and the snapshot used, in the resource's status", () => {
    for (const [i, k] of report.kills.entries()) {
      expect(k.recorded.timeToRecoverMs, `kill of ${k.pod} (${k.round})`).toBeGreaterThan(0)
      expect(k.recorded.snapshotId).toBe(k.worker.snapshotId)
      expect(k.recorded.recoveries).toBeGreaterThanOrEqual(i + 1)
    }
  })

  it('gets output flowing again from each replacement', () => {
    for (const k of report.kills) expect(k.ttrMs, `kill of ${k.pod} (${k.round})`).toBeGreaterThan(0)
  })

  it('replaces a lost claim after its timeout, and the shard restores from the object store, not a full replay', () => {
    const l = report.lostClaim
    expect(l.newClaimUid).not.toBe(l.oldClaimUid)
    expect(l.ttrMs).toBeGreaterThanOrEqual(l.timeoutSeconds * 1000)
    expect(l.worker.source).toBe('remote')
    expect(l.worker.snapshotId).toBeTruthy()
    expect(l.worker.replayedRecords).toBeLessThan(l.worker.changelogTo)
    expect(l.recorded).toEqual({ reason: expect.any(String), snapshotSource: 'remote', claimReplacements: 1 })
    expect(l.copies).toBeGreaterThan(0)
  })

  it('with a hot standby, the other pod of the pair takes the shard over when the owner pod is force-deleted, exactly', () => {
    const sb = report.standby
    expect(sb.takeovers.length).toBe(6)
    for (const t of sb.takeovers) {
      expect(t.newOwner, `takeover from ${t.pod}`).not.toBe(t.pod)
      // Told by the operator (deleted), by the owner on the kubelet's SIGTERM (stopped), or the process gone.
      expect(['deleted', 'stopped', 'connection-closed']).toContain(t.reason)
      expect(t.claimSame).toBe(true)
      expect(t.ttrMs).toBeGreaterThan(0)
    }
    // The operator's notice is usually first: the kubelet stops a force-deleted pod's container later.
    expect(sb.takeovers.map((t) => t.reason)).toContain('deleted')
    expect(sb.recordedPromotions).toBeGreaterThanOrEqual(sb.takeovers.length)
    expect(sb.verdict.problems).toEqual([])
    expect(sb.verdict).toMatchObject({ ok: true, lost: 0, duplicated: 0 })
  })

  it('loses nothing and duplicates nothing (the verifier against the raw input)', () => {
    expect(report.verdict.problems).toEqual([])
    expect(report.verdict.lost).toBe(0)
    expect(report.verdict.duplicated).toBe(0)
    expect(report.verdict.ok).toBe(true)
  })
})
