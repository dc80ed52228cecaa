import type { V1Pod } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { API_VERSION, KIND, PLURAL, type PipelineStatus } from '@ridepulse/contracts'
import { ANNOTATION_NUDGED_AT, ANNOTATION_NUDGES, FIELD_MANAGER } from '../core/builders.js'
import { ApiError, isConflict, isNotFound, objectPath, type Rest } from '../kube/rest.js'

export interface PipelineResource {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace: string; uid: string; generation?: number; resourceVersion?: string; deletionTimestamp?: string; finalizers?: string[]; annotations?: Record<string, string> }
  spec: unknown
  status?: Partial<PipelineStatus>
}

export const resourcePath = (ns: string, name?: string) => objectPath(API_VERSION, PLURAL, ns, name)
export const podsPath = (ns: string, name?: string) => objectPath('v1', 'pods', ns, name)
export const claimsPath = (ns: string, name?: string) => objectPath('v1', 'persistentvolumeclaims', ns, name)

/**
 * Every write of a pass to the API server: server-side apply with one field
 * manager, pods created and deleted with their races tolerated, the status
 * subresource with its one writer, and events.
 */
export class ClusterWriter {
  constructor(
    readonly rest: Rest,
    private readonly identity: string,
    private readonly nowMs: () => number,
  ) {}

  async apply(path: string, obj: { metadata?: { name?: string } }): Promise<void> {
    await this.rest.apply(path, obj as never, FIELD_MANAGER)
  }

  async createPod(pod: V1Pod): Promise<void> {
    try {
      await this.rest.request('POST', podsPath(pod.metadata?.namespace ?? ''), { body: pod })
    } catch (err) {
      // Still terminating, or created by an earlier pass: the next pass sees it.
      if (!(err instanceof ApiError && err.code === 409)) throw err
    }
  }

  /** A change of annotations only, which the pod's kubelet takes as a reason to sync it again (see `NUDGE_AFTER_MS`). */
  async nudgePod(ns: string, name: string, uid: string, atMs: number, count: number, log: Logger): Promise<void> {
    try {
      // The uid makes it a precondition: a newer pod of the same name is left alone.
      await this.rest.mergePatch(podsPath(ns, name), { metadata: { uid, annotations: { [ANNOTATION_NUDGED_AT]: new Date(atMs).toISOString(), [ANNOTATION_NUDGES]: String(count) } } })
      log.info({ pod: name, nudges: count }, 'its kubelet reported the claim forbidden for its node: nudged it to sync the pod again')
    } catch (err) {
      // Best effort: without it the kubelet still retries after its back-off,
      // so a refusal (an older Role without patch on pods) is not a failed step.
      if (!(isNotFound(err) || isConflict(err))) log.warn({ pod: name, err }, 'could not nudge the kubelet of a replacement pod')
    }
  }

  async deletePod(ns: string, name: string, uid: string, graceSeconds?: number): Promise<void> {
    try {
      await this.rest.delete(podsPath(ns, name), { uid, ...(graceSeconds !== undefined ? { gracePeriodSeconds: graceSeconds } : {}) })
    } catch (err) {
      // Already gone, or a newer pod with the same name (the uid precondition failed).
      if (!(isNotFound(err) || isConflict(err))) throw err
    }
  }

  /** Deletes a shard's claim, that one only (uid precondition); already gone is fine. */
  async deleteClaim(ns: string, name: string, uid: string): Promise<void> {
    try {
      await this.rest.delete(claimsPath(ns, name), { uid })
    } catch (err) {
      if (!(isNotFound(err) || isConflict(err))) throw err
    }
  }

  /** The one writer of the status subresource: retries on conflict with the latest version. */
  /**
   * Writes the status computed from `res`, as of `res`'s resourceVersion.
   * When the resource changed meanwhile the write is refused and nothing is
   * written: a status computed from an older resource must be computed again
   * from the newer one, not forced over it. Returns whether it was written.
   */
  async writeStatus(res: PipelineResource, status: PipelineStatus): Promise<'written' | 'stale'> {
    try {
      await this.rest.request('PUT', `${resourcePath(res.metadata.namespace, res.metadata.name)}/status`, { body: { ...res, status } })
      return 'written'
    } catch (err) {
      if (isConflict(err)) return 'stale'
      throw err
    }
  }

  async event(res: PipelineResource, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.nowMs()).toISOString()
    await this.rest.request('POST', objectPath('v1', 'events', res.metadata.namespace), {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${res.metadata.name}.`, namespace: res.metadata.namespace },
        involvedObject: { apiVersion: API_VERSION, kind: KIND, name: res.metadata.name, namespace: res.metadata.namespace, uid: res.metadata.uid },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: FIELD_MANAGER },
        reportingComponent: FIELD_MANAGER,
        reportingInstance: this.identity,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    })
  }
}
