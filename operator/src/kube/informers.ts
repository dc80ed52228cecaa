import { makeInformer, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import type { Rest } from './rest.js'

export interface WatchOptions {
  /** Collection path, e.g. /api/v1/pods. */
  path: string
  labelSelector?: string
  /** Called for every add, update and delete. */
  onEvent: (obj: KubernetesObject, verb: 'add' | 'update' | 'delete') => void
  /** A full relist happens at this period even without errors (a watch can die silently). */
  relistEveryMs?: number
}

/**
 * An informer that never stays down: client-node's informer stops on any
 * watch error but 410 Gone, so this one restarts it with a growing delay,
 * and restarts it on a timer too.
 */
export class ResilientInformer<T extends KubernetesObject> {
  readonly #informer
  #stopped = false
  #failures = 0
  #timer: NodeJS.Timeout | undefined

  constructor(
    rest: Rest,
    private readonly o: WatchOptions,
    private readonly log: Logger,
  ) {
    const list = () => rest.get<KubernetesListObject<T>>(o.path, { labelSelector: o.labelSelector })
    this.#informer = makeInformer<T>(rest.kc, o.path, list, o.labelSelector)
    this.#informer.on('add', (obj) => o.onEvent(obj, 'add'))
    this.#informer.on('update', (obj) => o.onEvent(obj, 'update'))
    this.#informer.on('delete', (obj) => o.onEvent(obj, 'delete'))
    this.#informer.on('connect', () => {
      this.#failures = 0
    })
    this.#informer.on('error', (err: unknown) => {
      if (this.#stopped) return
      this.#failures += 1
      const delay = Math.min(30_000, 250 * 2 ** Math.min(this.#failures, 7))
      this.log.warn({ err, path: o.path, delayMs: delay }, 'watch failed, restarting')
      setTimeout(() => void this.#start(), delay).unref()
    })
  }

  get cache() {
    return this.#informer
  }

  async start(): Promise<void> {
    await this.#start()
    const every = this.o.relistEveryMs ?? 300_000
    this.#timer = setInterval(() => {
      void this.#informer.stop().then(() => this.#start())
    }, every)
    this.#timer.unref()
  }

  async #start(): Promise<void> {
    if (this.#stopped) return
    try {
      await this.#informer.start()
    } catch (err) {
      this.#failures += 1
      const delay = Math.min(30_000, 250 * 2 ** Math.min(this.#failures, 7))
      this.log.warn({ err, path: this.o.path, delayMs: delay }, 'list failed, retrying')
      setTimeout(() => void this.#start(), delay).unref()
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer) clearInterval(this.#timer)
    await this.#informer.stop()
  }
}
