/**
 * The rounds of the e2e scenario beyond the pod kills: a lost disk whose
 * claim the operator replaces, and a pipeline with a hot standby.
 */
import type { KafkaSettings } from '@ridepulse/kafka'
import { awaitVerdict, sleep, startLoad, topicsFor, waitFor, type LocalObjectStore, type VerifyReport } from '@ridepulse/testkit'
import { HOT, LATENESS_MS, LOST_CLAIM_TIMEOUT_S, NAME, OUT_OF_ORDERNESS_MS, selector, STANDBY_KILLS, WINDOW_MS, WORKER_PORT, type WorkerStatus } from './constants.js'
import type { Cluster, PodView } from './kube.js'
import type { E2eOptions } from './scenario.js'

/** A shard whose volume is lost: its claim replaced by the operator, its state restored from the object store's copy. */
export interface LostClaim {
  shard: number
  pod: string
  /** The PersistentVolume removed (the disk gone). */
  volume: string
  oldClaimUid: string
  newClaimUid: string
  /** The operator's timeout before it replaces a lost claim, seconds. */
  timeoutSeconds: number
  /** Pod killed → the replacement's first committed transaction (the timeout included). */
  ttrMs: number
  /** The new claim seen → that first commit: what the object store saves over a full replay. */
  fromNewClaimMs: number
  worker: { source: string | null; snapshotId: string | null; downloadMs: number | null; replayedRecords: number; changelogTo: number }
  recorded: { reason: string | undefined; snapshotSource: string | undefined; claimReplacements: number | undefined }
  /** Whole copies of the shard in the store at the end. */
  copies: number
}

/** A second pipeline, one shard with a hot standby: its owner pod force-deleted, the standby takes over. */
export interface StandbyRound {
  takeovers: { pod: string; newOwner: string; reason: string | null; ttrMs: number; claimSame: boolean }[]
  /** Takeovers the operator counted in the resource's status (ShardPromoted). */
  recordedPromotions: number
  verdict: VerifyReport
}

/**
 * A pipeline of one shard whose pods are a pair (spec.opb.standby), on the
 * topics `t`, with the run's short windows; `retentionMs` keeps windows that
 * long, `memory` is OpB's limit.
 */
export function hotResource(o: E2eOptions, name: string, t: ReturnType<typeof topicsFor>, extra: { retentionMs?: number; memory?: string } = {}): Record<string, unknown> {
  return {
    apiVersion: 'ridepulse.io/v1alpha1',
    kind: 'StatefulOperator',
    metadata: { name, namespace: o.namespace },
    spec: {
      kafka: { bootstrapServers: o.brokers.split(',') },
      topics: { orders: t.TOPIC_ORDERS, enriched: t.TOPIC_ENRICHED, dlq: t.TOPIC_DLQ, output: t.TOPIC_OUTPUT, late: t.TOPIC_LATE, changelog: t.TOPIC_CHANGELOG, snapshots: t.TOPIC_SNAPSHOTS, ordersPartitions: 1 },
      opa: { image: o.workerImage },
      opb: { shards: 1, image: o.workerImage, standby: { enabled: true }, resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: extra.memory ?? '1Gi' } } },
      snapshots: { intervalMs: 2000 },
      windows: { sizeMs: WINDOW_MS, allowedLatenessMs: LATENESS_MS, outOfOrdernessMs: OUT_OF_ORDERNESS_MS, idleTimeoutMs: 1500, ...(extra.retentionMs ? { retentionMs: extra.retentionMs } : {}) },
    },
  }
}

const opbOf = (name: string) => `app.kubernetes.io/instance=${name},app.kubernetes.io/component=opb`

/** A ready pod of a pair and what its worker says. */
export interface PairMember {
  pod: PodView
  phase: string
  status: WorkerStatus
}

/** The pipeline's owner and standby pods, when both are ready (not being deleted) and their workers say so. */
export async function pairOf(c: Cluster, ns: string, name: string): Promise<{ owner: PairMember; standby: PairMember } | undefined> {
  const members: PairMember[] = []
  for (const p of await c.pods(ns, opbOf(name))) {
    if (!p.ready || p.deleting) continue
    const st = await c.workerStatus<WorkerStatus>(ns, p.name, WORKER_PORT).catch(() => undefined)
    if (st) members.push({ pod: p, phase: st.phase, status: st })
  }
  const owner = members.find((x) => x.phase === 'running')
  const standby = members.find((x) => x.phase === 'standby')
  return owner && standby ? { owner, standby } : undefined
}

/**
 * Hot standby on the cluster: a pipeline of one shard whose pods are a pair
 * (spec.opb.standby). Under load, the owner pod is force-deleted again and
 * again; each time the other pod of the pair, standing by, takes the shard
 * over, and the operator recreates the deleted one, which stands by in turn.
 * Time to recover: the owner pod's deletion sent → the new owner's first
 * committed transaction (its worker's lastRecovery.firstCommitAt).
 */
export async function standbyRound(c: Cluster, o: E2eOptions, prefix: string): Promise<StandbyRound> {
  const ns = o.namespace
  const hot = `${prefix}-hot`
  const t = topicsFor(hot)
  const settings: KafkaSettings = { brokers: o.brokers.split(','), clientId: `${hot}-e2e` }
  await c.kubectl(['apply', '-f', '-'], JSON.stringify(hotResource(o, HOT, t)))
  const hotPods = () => c.pods(ns, opbOf(HOT))
  const pair = () => pairOf(c, ns, HOT)
  await waitFor(`${HOT}: an owner and a standby ready`, pair, 300_000, 500)
  const load = startLoad({ settings, topic: t.TOPIC_ORDERS, partitions: 1, ratePerSec: Math.max(50, Math.round(o.rate / 3)), zones: 12, seed: o.seed + 1, malformedFraction: 0, maxDisorderMs: 300 })
  const takeovers: StandbyRound['takeovers'] = []
  const promotionsRecorded = async () => {
    const r = await c.resource(ns, HOT)
    return [...(r.status?.shards ?? []), ...(r.status?.standbys ?? [])].reduce((sum, s) => sum + (s.promotions ?? 0), 0)
  }
  try {
    for (let k = 0; k < STANDBY_KILLS; k++) {
      const before = await waitFor(`${HOT}: the pair ready again`, pair, 180_000, 200)
      await sleep(1500)
      const killedAt = Date.now()
      await c.kubectl(['delete', 'pod', before.owner.pod.name, '--namespace', ns, '--grace-period=0', '--force'])
      const taken = await waitFor(`${before.standby.pod.name} owning the shard`, async () => {
        const st = await c.workerStatus<WorkerStatus>(ns, before.standby.pod.name, WORKER_PORT)
        return st.phase === 'running' && st.lastRecovery?.firstCommitAt ? st : undefined
      }, 60_000, 20)
      const takeover = {
        pod: before.owner.pod.name,
        newOwner: before.standby.pod.name,
        reason: taken.lastRecovery?.promotion?.reason ?? null,
        ttrMs: taken.lastRecovery!.firstCommitAt! - killedAt,
        claimSame: (await hotPods()).find((p) => p.name === before.standby.pod.name)?.uid === before.standby.pod.uid,
      }
      takeovers.push(takeover)
      o.log(`standby takeover ${k + 1}: ${takeover.pod} force-deleted -> ${takeover.newOwner} first commit ${takeover.ttrMs} ms (${takeover.reason})`)
      // The operator counts a takeover when it reads the new owner's /status (every lagPollMs):
      // the next kill waits for it, or a pod killed before it was read would take its count along.
      await waitFor(`takeover ${k + 1} in the resource's status`, async () => ((await promotionsRecorded()) >= takeovers.length ? true : undefined), 30_000, 250)
    }
    await waitFor(`${HOT}: the pair ready again`, pair, 180_000, 200)
  } finally {
    await sleep(1500)
    await load.stop()
  }
  const recordedPromotions = await waitFor('the takeovers in the resource\'s status', async () => {
    const n = await promotionsRecorded()
    return n >= STANDBY_KILLS ? n : undefined
  }, 30_000, 500).catch(() => promotionsRecorded())
  const verdict = await awaitVerdict(settings, hot, { orders: 1, shards: 1 }, { windowSizeMs: WINDOW_MS, allowedLatenessMs: LATENESS_MS, outOfOrdernessMs: OUT_OF_ORDERNESS_MS }, 120_000)
  const sorted = takeovers.map((x) => x.ttrMs).sort((a, b) => a - b)
  o.log(`standby: ${takeovers.length} takeovers, kill -> first commit median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms; ${recordedPromotions} recorded by the operator; verifier lost ${verdict.lost}, duplicated ${verdict.duplicated}`)
  await c.kubectl(['delete', 'statefuloperator', HOT, '--namespace', ns, '--wait=true', '--timeout=120s'])
  return { takeovers, recordedPromotions, verdict }
}

/**
 * A lost disk: shard 0's PersistentVolume is removed (its protection
 * finalizer too, as when the disk or its node is gone for good) and its pod
 * killed. The replacement cannot mount the claim; the operator sees the
 * claim lost, replaces it after LOST_CLAIM_TIMEOUT_S with a new, empty one,
 * and the shard restores from the newest copy in the object store plus the
 * changelog's tail.
 */
export async function loseClaim(c: Cluster, o: E2eOptions, store: LocalObjectStore, prefix: string): Promise<LostClaim> {
  const ns = o.namespace
  const shard = 0
  const pod = `${NAME}-opb-${shard}`
  await waitFor(`a copy of shard ${shard} in the object store`, async () => ((await c.workerStatus<WorkerStatus>(ns, pod, WORKER_PORT)).remoteSnapshots?.uploads ?? 0) > 0, 120_000, 500)
  const before = (await c.pods(ns, selector('opb'))).find((p) => p.name === pod)!
  const claimName = before.claim!
  const old = await c.claim(ns, claimName)
  const volume = old.volume!
  await c.kubectl(['delete', 'pv', volume, '--wait=false'])
  await c.kubectl(['patch', 'pv', volume, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'])
  await waitFor(`volume ${volume} gone`, async () => !(await c.kubectl(['get', 'pv', '--no-headers', '-o', 'name'])).includes(`persistentvolume/${volume}`), 30_000, 200)
  const recoveriesBefore = (await c.resource(ns, NAME)).status?.recoveries ?? 0
  const killedAt = Date.now()
  await c.kubectl(['delete', 'pod', pod, '--namespace', ns, '--grace-period=0', '--force'])
  const fresh = await waitFor('a new claim', async () => {
    const cl = await c.claim(ns, claimName).catch(() => undefined)
    return cl && cl.uid !== old.uid ? { ...cl, seenAt: Date.now() } : undefined
  }, (LOST_CLAIM_TIMEOUT_S + 120) * 1000, 200)
  const replacement = await waitFor(`${pod} on the new claim and ready`, async () => {
    const p = (await c.pods(ns, selector('opb'))).find((x) => x.name === pod)
    return p && p.uid !== before.uid && p.ready && !p.deleting ? p : undefined
  }, 180_000, 100)
  const w = await waitFor(`${pod}'s first commit after its recovery`, async () => {
    const st = await c.workerStatus<WorkerStatus>(ns, pod, WORKER_PORT)
    return st.lastRecovery?.firstCommitAt ? st.lastRecovery : undefined
  }, 60_000, 50)
  // This recovery, not the shard's one before: the count has grown (the pod's uid alone shows before its recovery is recorded).
  const recorded = await waitFor('the recovery in the resource\'s status', async () => {
    const r = (await c.resource(ns, NAME)).status
    const st = r?.shards?.find((x) => x.shard === shard)
    return (r?.recoveries ?? 0) > recoveriesBefore && st?.podUid === replacement.uid && st.lastRecovery?.readyAt ? st : undefined
  }, 60_000, 200)
  const copies = (await store.keys(`${prefix}/`)).filter((k) => k.includes(`/opb-${shard}/`) && k.endsWith('/manifest.json')).length
  const r: LostClaim = {
    shard,
    pod,
    volume,
    oldClaimUid: old.uid,
    newClaimUid: fresh.uid,
    timeoutSeconds: LOST_CLAIM_TIMEOUT_S,
    ttrMs: w.firstCommitAt! - killedAt,
    fromNewClaimMs: w.firstCommitAt! - fresh.seenAt,
    worker: { source: w.snapshot?.source ?? null, snapshotId: w.snapshot?.snapshotId ?? null, downloadMs: w.snapshot?.downloadMs ?? null, replayedRecords: w.replayedRecords, changelogTo: w.changelogTo },
    recorded: { reason: recorded.lastRecovery?.reason, snapshotSource: recorded.lastRecovery?.snapshotSource, claimReplacements: recorded.claimReplacements },
    copies,
  }
  o.log(
    `lost claim: volume ${volume} of ${pod} removed; claim replaced after the ${LOST_CLAIM_TIMEOUT_S} s timeout; kill -> first commit ${r.ttrMs} ms (${r.fromNewClaimMs} ms after the new claim); ` +
      `restored ${r.worker.snapshotId ?? 'nothing'} from ${r.worker.source ?? '-'} in ${r.worker.downloadMs ?? '-'} ms, ${r.worker.replayedRecords} of ${r.worker.changelogTo} changelog records replayed; ` +
      `status: ${r.recorded.reason}, ${r.recorded.snapshotSource}, ${r.recorded.claimReplacements} replacement(s); ${copies} copies in the store`,
  )
  return r
}
