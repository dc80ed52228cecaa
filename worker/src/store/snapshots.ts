import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { copyFile, constants, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import type { WindowAgg } from '../core/aggregate.js'
import { STATE_VERSION } from '../core/aggregate.js'
import { chainBack, snapshotsToKeep } from '../core/snapshot-chain.js'
import { fsyncPath, hashFile, sha256File, writeFileAtomic } from './files.js'
import { StateStore, STORE_VERSION, type StoreMeta } from './state-store.js'

/**
 * Snapshots on the shard's own volume:
 *
 *   <dataDir>/snapshots/<id>/data.mdb     full: LMDB's consistent copy
 *   <dataDir>/snapshots/<id>/delta.json   partial: keys changed since the parent
 *   <dataDir>/snapshots/<id>/manifest.json
 *
 * A snapshot is written into a temporary directory, fsynced, checksummed and
 * renamed into place, so a directory under snapshots/ is always whole.
 */

export type SnapshotKind = 'full' | 'partial'

export const manifestSchema = z.object({
  snapshotId: z.string().min(1),
  shard: z.number().int().nonnegative(),
  kind: z.enum(['full', 'partial']),
  /** The full snapshot a partial chain starts from (itself for a full one). */
  base: z.string().min(1),
  /** The snapshot a partial applies on top of. */
  parent: z.string().nullable(),
  lastChangelogOffset: z.number().int(),
  inputOffsets: z.record(z.string(), z.number().int().nonnegative()),
  watermark: z.number(),
  sizeBytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  schemaVersion: z.number().int(),
  createdAt: z.number(),
  keys: z.number().int().nonnegative(),
})
export type SnapshotManifest = z.infer<typeof manifestSchema>

export class SnapshotCorruptedError extends Error {
  constructor(id: string, why: string) {
    super(`snapshot ${id} is unusable: ${why}`)
    this.name = 'SnapshotCorruptedError'
  }
}

const deltaSchema = z.object({
  v: z.literal(STATE_VERSION),
  meta: z.custom<StoreMeta>((m) => typeof m === 'object' && m !== null),
  changes: z.array(z.tuple([z.string(), z.custom<WindowAgg | null>()])),
})

const existsDir = (path: string): boolean => {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

const fileOf = (m: Pick<SnapshotManifest, 'kind'>) => (m.kind === 'full' ? 'data.mdb' : 'delta.json')

export class SnapshotUnavailableError extends Error {
  constructor(id: string, rejected: { snapshotId: string; reason: string }[]) {
    const why = rejected.find((r) => r.snapshotId === id)?.reason ?? 'not on the volume'
    super(`the committed checkpoint ${id} cannot be restored (${why}); without a changelog no other snapshot is exact`)
    this.name = 'SnapshotUnavailableError'
  }
}

/** A base copy started ahead of verification. */
export interface Staged {
  baseId: string | null
  copied: Promise<boolean>
}

export interface RestorePlan {
  /** Snapshots to load, base first; empty: start empty and replay the whole changelog. */
  chain: SnapshotManifest[]
  /** Snapshots passed over, newest first, with the reason. */
  rejected: { snapshotId: string; reason: string }[]
}

export class SnapshotStore {
  readonly root: string
  /** Checksums started by `stage`, by file, with the size the file had then. */
  readonly #checksums = new Map<string, { size: number; sha: Promise<string> }>()
  /** Snapshots that pruning keeps whatever their age (one being copied elsewhere). */
  readonly #pinned = new Map<string, number>()

  constructor(
    readonly dataDir: string,
    readonly shard: number,
  ) {
    this.root = join(dataDir, 'snapshots')
  }

  dirOf(snapshotId: string): string {
    return join(this.root, snapshotId)
  }

  pin(snapshotId: string): void {
    this.#pinned.set(snapshotId, (this.#pinned.get(snapshotId) ?? 0) + 1)
  }

  unpin(snapshotId: string): void {
    const n = (this.#pinned.get(snapshotId) ?? 0) - 1
    if (n > 0) this.#pinned.set(snapshotId, n)
    else this.#pinned.delete(snapshotId)
  }

  #newId(nowMs: number): string {
    return `${String(nowMs).padStart(15, '0')}-${randomBytes(3).toString('hex')}`
  }

  async #finish(tmp: string, id: string, manifest: Omit<SnapshotManifest, 'sizeBytes' | 'sha256'>): Promise<SnapshotManifest> {
    const file = join(tmp, fileOf(manifest))
    await fsyncPath(file)
    const [sha256, st] = await Promise.all([sha256File(file), stat(file)])
    const full: SnapshotManifest = { ...manifest, sha256, sizeBytes: st.size }
    await writeFileAtomic(join(tmp, 'manifest.json'), JSON.stringify(full, null, 1))
    await fsyncPath(tmp, true)
    await rename(tmp, join(this.root, id))
    await fsyncPath(this.root, true)
    return full
  }

  #manifestFields(meta: StoreMeta, inputTopic: string, nowMs: number) {
    return {
      shard: this.shard,
      lastChangelogOffset: meta.lastChangelogOffset,
      inputOffsets: { [`${inputTopic}:${this.shard}`]: meta.inputOffset },
      watermark: meta.watermark,
      schemaVersion: meta.schemaVersion,
      createdAt: nowMs,
    }
  }

  /** Runs `write` into a fresh temporary directory; a failed write (a full disk, say) leaves nothing behind. */
  async #inTemp<T>(id: string, write: (tmp: string) => Promise<T>): Promise<T> {
    const tmp = join(this.root, `.tmp-${id}`)
    try {
      await mkdir(tmp, { recursive: true })
      return await write(tmp)
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined) // the write's error is the one to report
      throw err
    }
  }

  /**
   * Removes what a process that died mid-snapshot (or wrote to a full disk)
   * left: temporary snapshot directories. Run before a recovery, when no
   * snapshot of this process is being written.
   */
  async removeLeftovers(): Promise<string[]> {
    let names: string[]
    try {
      names = await readdir(this.root)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    const leftovers = names.filter((n) => n.startsWith('.tmp-'))
    for (const n of leftovers) await rm(join(this.root, n), { recursive: true, force: true })
    return leftovers
  }

  /**
   * A full snapshot: LMDB's copy of the whole store, taken in a read
   * transaction of its own, so commits may go on while it is written. Its
   * manifest says where the copy stands, read from the copy itself.
   */
  async takeFull(store: StateStore, inputTopic: string, nowMs: number): Promise<SnapshotManifest> {
    const id = this.#newId(nowMs)
    return this.#inTemp(id, async (tmp) => {
      await store.backup(tmp)
      const { meta, windows } = await StateStore.readCopy(tmp)
      await rm(join(tmp, 'lock.mdb'), { force: true })
      if (!meta) throw new Error('cannot snapshot a store without metadata')
      return this.#finish(tmp, id, { ...this.#manifestFields(meta, inputTopic, nowMs), snapshotId: id, kind: 'full', base: id, parent: null, keys: windows })
    })
  }

  /** A partial snapshot: only the keys changed since `parent`. */
  async takePartial(store: StateStore, changedKeys: Iterable<string>, parent: SnapshotManifest, inputTopic: string, nowMs: number): Promise<SnapshotManifest> {
    const meta = store.meta()
    if (!meta) throw new Error('cannot snapshot a store without metadata')
    const id = this.#newId(nowMs)
    const changes: [string, WindowAgg | null][] = []
    for (const key of changedKeys) changes.push([key, store.get(key) ?? null])
    return this.#inTemp(id, async (tmp) => {
      await writeFile(join(tmp, 'delta.json'), JSON.stringify({ v: STATE_VERSION, meta, changes }))
      return this.#finish(tmp, id, {
        ...this.#manifestFields(meta, inputTopic, nowMs),
        snapshotId: id,
        kind: 'partial',
        base: parent.base,
        parent: parent.snapshotId,
        keys: changes.length,
      })
    })
  }

  /** Manifests of the snapshots on the volume, newest first; unreadable ones are reported, not thrown. */
  async list(): Promise<{ manifests: SnapshotManifest[]; unreadable: { snapshotId: string; reason: string }[] }> {
    await mkdir(this.root, { recursive: true })
    const names = (await readdir(this.root)).filter((n) => !n.startsWith('.')).sort().reverse()
    const manifests: SnapshotManifest[] = []
    const unreadable: { snapshotId: string; reason: string }[] = []
    for (const name of names) {
      try {
        manifests.push(this.#parseManifest(name, await readFile(join(this.root, name, 'manifest.json'), 'utf8')))
      } catch (err) {
        unreadable.push({ snapshotId: name, reason: `manifest: ${(err as Error).message}` })
      }
    }
    return { manifests, unreadable }
  }

  #parseManifest(name: string, text: string): SnapshotManifest {
    const m = manifestSchema.parse(JSON.parse(text))
    if (m.snapshotId !== name) throw new Error(`manifest names ${m.snapshotId}`)
    if (m.shard !== this.shard) throw new Error(`snapshot of shard ${m.shard}`)
    return m
  }

  /** The newest readable manifest's chain, head first, as far as it is on the volume; read synchronously. */
  #newestChainSync(): SnapshotManifest[] {
    const names = existsDir(this.root) ? readdirSync(this.root).filter((n) => !n.startsWith('.')).sort().reverse() : []
    const byId = new Map<string, SnapshotManifest>()
    let head: SnapshotManifest | undefined
    for (const name of names) {
      try {
        const m = this.#parseManifest(name, readFileSync(join(this.root, name, 'manifest.json'), 'utf8'))
        byId.set(name, m)
        head ??= m
      } catch {
        // `plan` reads it again and reports why it is unusable
      }
    }
    return head ? chainBack(head, byId).links : []
  }

  async verify(m: SnapshotManifest): Promise<void> {
    const file = join(this.root, m.snapshotId, fileOf(m))
    let st
    try {
      st = await stat(file)
    } catch {
      throw new SnapshotCorruptedError(m.snapshotId, `${fileOf(m)} is missing`)
    }
    if (st.size !== m.sizeBytes) throw new SnapshotCorruptedError(m.snapshotId, `size ${st.size} bytes, manifest says ${m.sizeBytes}`)
    if (m.schemaVersion !== STORE_VERSION) throw new SnapshotCorruptedError(m.snapshotId, `schema version ${m.schemaVersion}, this worker reads ${STORE_VERSION}`)
    const started = this.#checksums.get(file)
    this.#checksums.delete(file) // used once: a later check reads the file again
    const sha = await (started && started.size === st.size ? started.sha : sha256File(file))
    if (sha !== m.sha256) throw new SnapshotCorruptedError(m.snapshotId, 'checksum mismatch')
  }

  /**
   * The newest snapshot whose whole chain (full base, then each partial)
   * is present and verifies; else the one before; else nothing.
   */
  async plan(): Promise<RestorePlan> {
    const { manifests, unreadable } = await this.list()
    const plan = await this.#planChains(manifests, manifests)
    return { chain: plan.chain, rejected: [...unreadable, ...plan.rejected] }
  }

  /** The first of `heads` (newest first) whose chain, looked up in `all`, verifies. */
  async #planChains(heads: SnapshotManifest[], all: SnapshotManifest[]): Promise<RestorePlan> {
    const manifests = heads
    const byId = new Map(all.map((m) => [m.snapshotId, m]))
    const rejected: { snapshotId: string; reason: string }[] = []
    const verified = new Map<string, string | null>() // id -> null ok, or reason
    const check = async (m: SnapshotManifest): Promise<string | null> => {
      if (!verified.has(m.snapshotId)) {
        try {
          await this.verify(m)
          verified.set(m.snapshotId, null)
        } catch (err) {
          verified.set(m.snapshotId, (err as Error).message)
        }
      }
      return verified.get(m.snapshotId)!
    }
    for (const head of manifests) {
      // Verified head first, down to the base: the first file that fails names the reason.
      const { links, problem } = chainBack(head, byId)
      let reason: string | null = null
      for (const m of links) if ((reason = await check(m))) break
      reason ??= problem ?? null
      if (!reason) return { chain: links.reverse(), rejected }
      rejected.push({ snapshotId: head.snapshotId, reason })
    }
    return { chain: [], rejected }
  }

  /** The chain of one given snapshot, verified; empty when it is missing or does not verify. */
  async planExact(snapshotId: string): Promise<RestorePlan> {
    const { manifests, unreadable } = await this.list()
    const plan = await this.#planChains(manifests.filter((m) => m.snapshotId === snapshotId), manifests)
    return { chain: plan.chain, rejected: [...unreadable, ...plan.rejected] }
  }

  /**
   * Starts what recovery does first with the local snapshots, synchronously
   * up to where the work runs on its own: the checksums of the newest
   * snapshot's chain (worker threads; `verify` takes them up) and a copy of
   * the chain's full base into `liveDir` (the thread pool). So both run
   * beside the fence, or even while the worker is still loading. `restore`
   * uses the copy only if verification picks that base.
   */
  stage(liveDir: string): Staged {
    let chain: SnapshotManifest[]
    try {
      chain = this.#newestChainSync()
    } catch {
      return { baseId: null, copied: Promise.resolve(false) } // `plan` lists the volume again and reports
    }
    for (const m of chain) {
      const file = join(this.root, m.snapshotId, fileOf(m))
      try {
        const size = statSync(file).size
        const sha = hashFile(file, size)
        sha.catch(() => undefined) // awaited by `verify`, if it gets that far
        this.#checksums.set(file, { size, sha })
      } catch {
        // missing: `verify` says so
      }
    }
    const base = chain.at(-1)
    if (base?.kind !== 'full') return { baseId: null, copied: Promise.resolve(false) }
    const copied = this.#copyBaseStarted(base, liveDir).then(
      () => true,
      () => false, // a damaged or vanished base: verification says why, and restore copies another
    )
    return { baseId: base.snapshotId, copied }
  }

  /** Empties `liveDir` and starts the copy before returning. */
  #copyBaseStarted(base: SnapshotManifest, liveDir: string): Promise<void> {
    try {
      rmSync(liveDir, { recursive: true, force: true })
      mkdirSync(liveDir, { recursive: true })
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    // A reflink where the file system has them, a plain copy elsewhere.
    return copyFile(join(this.root, base.snapshotId, 'data.mdb'), join(liveDir, 'data.mdb'), constants.COPYFILE_FICLONE)
  }

  async #copyBase(base: SnapshotManifest, liveDir: string): Promise<void> {
    await rm(liveDir, { recursive: true, force: true })
    await mkdir(liveDir, { recursive: true })
    await copyFile(join(this.root, base.snapshotId, 'data.mdb'), join(liveDir, 'data.mdb'), constants.COPYFILE_FICLONE)
  }

  /**
   * Builds a fresh live store at `liveDir` from a verified chain: a copy of
   * the full base (never the snapshot itself: LMDB writes in place), then each
   * partial applied in order.
   */
  async restore(chain: SnapshotManifest[], liveDir: string, staged?: Staged): Promise<{ store: StateStore; bytes: number }> {
    let bytes = 0
    const [base, ...partials] = chain
    const reuse = base !== undefined && staged?.baseId === base.snapshotId && (await staged.copied)
    if (staged && !reuse) await staged.copied // never two copies into the same place at once
    if (base) {
      if (!reuse) await this.#copyBase(base, liveDir)
      bytes += base.sizeBytes
    } else {
      await rm(liveDir, { recursive: true, force: true })
      await mkdir(liveDir, { recursive: true })
    }
    const store = StateStore.open(liveDir)
    try {
      for (const p of partials) {
        const raw = await readFile(join(this.root, p.snapshotId, 'delta.json'), 'utf8')
        const delta = deltaSchema.parse(JSON.parse(raw))
        bytes += p.sizeBytes
        store.apply(new Map(delta.changes), delta.meta)
      }
    } catch (err) {
      await store.close()
      throw err
    }
    return { store, bytes }
  }

  /** Keeps the newest `keep` snapshots and every snapshot their chains need. */
  async prune(keep: number): Promise<string[]> {
    const { manifests } = await this.list()
    const byId = new Map(manifests.map((m) => [m.snapshotId, m]))
    const needed = snapshotsToKeep(manifests, keep)
    const removed: string[] = []
    for (const name of await readdir(this.root)) {
      if (needed.has(name) || this.#pinned.has(name)) continue
      if (name.startsWith('.tmp-') || byId.has(name) || !name.startsWith('.')) {
        await rm(join(this.root, name), { recursive: true, force: true })
        removed.push(name)
      }
    }
    return removed
  }
}
