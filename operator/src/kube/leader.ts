import type { Logger } from 'pino'
import { isConflict, isNotFound, objectPath, type Rest } from './rest.js'

export interface LeaseOptions {
  namespace: string
  name: string
  identity: string
  leaseDurationMs: number
  renewDeadlineMs: number
  retryPeriodMs: number
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1'
  kind: 'Lease'
  metadata: { name: string; namespace: string; resourceVersion?: string }
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number }
}

/** A MicroTime as the API server writes it: RFC 3339 with six fractional digits. */
const microTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Leader election on a coordination.k8s.io Lease, as client-go does it: a
 * holder renews every retry period; another candidate takes the lease only
 * when it has seen the same record unchanged for a whole lease duration (by
 * its own clock, so clocks need not agree). Writes carry the resourceVersion
 * they read, so two candidates never both win.
 */
export class LeaderElector {
  #observed: { key: string; atMs: number } | undefined
  #stopped = false

  constructor(
    private readonly rest: Rest,
    private readonly o: LeaseOptions,
    private readonly log: Logger,
  ) {}

  get #path() {
    return objectPath('coordination.k8s.io/v1', 'leases', this.o.namespace, this.o.name)
  }

  /**
   * Resolves once this candidate holds the lease. An API server that does
   * not answer, or answers with an error, is waited out: a standby replica
   * keeps campaigning through it (said in the log once per outage).
   */
  async acquire(): Promise<void> {
    let waiting = false
    let failing = false
    while (!this.#stopped) {
      try {
        if (await this.#tryAcquireOrRenew()) return
        if (failing) this.log.info({ lease: this.o.name }, 'the API server answers again')
        failing = false
      } catch (err) {
        if (!failing) this.log.warn({ lease: this.o.name, err }, 'could not read or take the lease; trying again')
        failing = true
      }
      if (!waiting) this.log.info({ lease: this.o.name }, 'waiting for leadership')
      waiting = true
      await sleep(this.o.retryPeriodMs)
    }
  }

  /** Renews until a renewal has failed for the renew deadline; resolves when leadership is lost. */
  async hold(): Promise<void> {
    let lastRenewMs = Date.now()
    while (!this.#stopped) {
      await sleep(this.o.retryPeriodMs)
      if (this.#stopped) return
      if (await this.#tryAcquireOrRenew().catch(() => false)) lastRenewMs = Date.now()
      else if (Date.now() - lastRenewMs > this.o.renewDeadlineMs) return
    }
  }

  /** Gives the lease up so a successor need not wait for it to expire. */
  async release(): Promise<void> {
    this.#stopped = true
    try {
      const lease = await this.rest.get<Lease>(this.#path)
      if (lease.spec.holderIdentity !== this.o.identity) return
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(Date.now()) }
      await this.rest.request('PUT', this.#path, { body: lease })
    } catch (err) {
      this.log.warn({ err }, 'could not release the lease')
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now()
    const durationSeconds = Math.ceil(this.o.leaseDurationMs / 1000)
    let lease: Lease
    try {
      lease = await this.rest.get<Lease>(this.#path)
    } catch (err) {
      if (!isNotFound(err)) throw err
      const created: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.o.name, namespace: this.o.namespace },
        spec: { holderIdentity: this.o.identity, leaseDurationSeconds: durationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      }
      try {
        await this.rest.request('POST', objectPath('coordination.k8s.io/v1', 'leases', this.o.namespace), { body: created })
        return true
      } catch (e) {
        if (e instanceof Error && /already exists/i.test(e.message)) return false
        throw e
      }
    }
    const s = lease.spec
    const key = `${s.holderIdentity}|${s.renewTime}`
    if (this.#observed?.key !== key) this.#observed = { key, atMs: now }
    const mine = s.holderIdentity === this.o.identity
    const expired = !s.holderIdentity || now - this.#observed.atMs >= (s.leaseDurationSeconds ?? durationSeconds) * 1000
    if (!mine && !expired) return false
    lease.spec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: mine ? s.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (s.leaseTransitions ?? 0) + (mine ? 0 : 1),
    }
    try {
      await this.rest.request('PUT', this.#path, { body: lease })
    } catch (err) {
      if (isConflict(err)) return false
      throw err
    }
    if (!mine) this.log.info({ lease: this.o.name, previous: s.holderIdentity || null }, 'acquired leadership')
    return true
  }
}
