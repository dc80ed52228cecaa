import { ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import type { Rest } from './rest.js'

export interface WatchOptions {
  /** Collection path, e.g. /api/v1/pods. */
  path: string
  labelSelector?: string
  /** Called for every add, update and delete. */
  onEvent: (obj: KubernetesObject, verb: 'add' | 'update' | 'delete') => void
  /** How long the API server keeps one watch open before it ends it, and the informer resumes (seconds). */
  watchSeconds: number
}

/** An error of a request this process aborted itself (its own stop): nothing went wrong. */
const isAbort = (err: unknown): boolean => err instanceof Error && (err.name === 'AbortError' || (err as { type?: string }).type === 'aborted')

/**
 * An informer that stays up without relisting.
 *
 * It lists once, then watches from the list's resourceVersion with watch
 * bookmarks, so the version it holds stays recent even when nothing it
 * watches changes. Each watch asks the API server to end it after
 * `watchSeconds`, and the informer then watches again from the version it
 * holds: a connection that died silently is replaced within one period,
 * and nothing is missed, because the server replays what changed since
 * that version. Only when the server no longer has that version
 * (410 Gone) does the informer list again. So there is no periodic relist;
 * one watch request per informer per period is the steady state.
 *
 * A watch that fails otherwise (the API server restarting, a refused
 * request) is resumed the same way after a growing pause. A running watch
 * is never stopped and restarted from outside: aborting a request makes
 * the client end whichever request is current when the abort lands,
 * which turned a periodic restart into a loop of watches.
 */
export class ResilientInformer<T extends KubernetesObject> {
  readonly #informer: ListWatch<T>
  #stopped = false
  #failures = 0
  #retry: NodeJS.Timeout | undefined

  constructor(
    rest: Rest,
    private readonly o: WatchOptions,
    private readonly log: Logger,
  ) {
    const list = () => rest.get<KubernetesListObject<T>>(o.path, { labelSelector: o.labelSelector })
    const watch = new Watch(rest.kc)
    const renewing = {
      watch: (path: string, params: Record<string, unknown>, callback: Parameters<Watch['watch']>[2], done: Parameters<Watch['watch']>[3]) =>
        watch.watch(path, { ...params, timeoutSeconds: o.watchSeconds, allowWatchBookmarks: true }, callback, done),
    }
    this.#informer = new ListWatch<T>(o.path, renewing as unknown as Watch, list, false, o.labelSelector)
    this.#informer.on('add', (obj) => o.onEvent(obj, 'add'))
    this.#informer.on('update', (obj) => o.onEvent(obj, 'update'))
    this.#informer.on('delete', (obj) => o.onEvent(obj, 'delete'))
    this.#informer.on('connect', () => {
      this.#failures = 0
    })
    this.#informer.on('error', (err: unknown) => {
      if (this.#stopped || isAbort(err)) return
      this.#resumeLater(err, 'watch failed, resuming')
    })
  }

  get cache(): ListWatch<T> {
    return this.#informer
  }

  async start(): Promise<void> {
    if (this.#stopped) return
    try {
      await this.#informer.start()
    } catch (err) {
      this.#resumeLater(err, 'list failed, retrying')
    }
  }

  /** One retry at a time, after a pause that grows with each failure in a row. */
  #resumeLater(err: unknown, message: string): void {
    if (this.#retry) return
    this.#failures += 1
    const delayMs = Math.min(30_000, 250 * 2 ** Math.min(this.#failures, 7))
    this.log.warn({ err, path: this.o.path, delayMs }, message)
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      void this.start()
    }, delayMs)
    this.#retry.unref()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#retry) clearTimeout(this.#retry)
    await this.#informer.stop()
  }
}
