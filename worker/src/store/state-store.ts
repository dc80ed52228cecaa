import { statfsSync } from 'node:fs'
import { open, type Database, type RootDatabase } from 'lmdb'
import type { WindowAgg } from '../core/aggregate.js'
import { parseWindowKey, windowKey } from '../core/aggregate.js'
import type { ShardMeta } from '../core/records.js'
import type { StateView } from '../core/shard.js'
import { decodeStoredWindow, encodeStoredWindow } from '../core/stored-window.js'

/**
 * Layout of the store, and so of full snapshots. 1 kept windows in LMDB's
 * default object encoding; 2 in the compact layout of `stored-window.ts`.
 * The changelog's own record version (`v`) is separate and unchanged.
 */
export const STORE_VERSION = 2

// LMDB takes a value encoder per database, though its typings leave the option out.
const windowsOptions = { name: 'windows', encoder: { encode: encodeStoredWindow, decode: decodeStoredWindow } }

/** Where the state stands, kept in the same write transaction as the state. */
export interface StoreMeta extends ShardMeta {
  /** The state includes every changelog record up to this offset (-1: none). */
  lastChangelogOffset: number
  schemaVersion: number
}

type IndexKey = [number, string]

/**
 * LMDB must never meet a full disk: when it fails to write a page, the
 * library's error path overruns a heap buffer of its own (a 100-byte message
 * buffer), and the process may then crash later, anywhere, or worse. So a
 * write transaction is refused beforehand unless the volume has room for
 * the worst case: whole pages for every changed window, beyond a floor.
 */
const FREE_SPACE_FLOOR = 4 << 20
/** An update of existing windows may dirty a page per window (LMDB writes whole pages, copy on write). */
const BYTES_PER_UPDATE = 4096
/** A replay into an empty store appends: a record and its index entry, in pages at least half full. */
const BYTES_PER_APPEND = 1024

/** The data volume lacks room for a write: nothing was written; the write can be retried once space returns. */
export class VolumeFullError extends Error {
  readonly code = 'ENOSPC'
  constructor(
    readonly path: string,
    readonly freeBytes: number,
    readonly neededBytes: number,
  ) {
    super(`no space left on the data volume for the state: ${freeBytes} bytes free at ${path}, a write may need ${neededBytes}; nothing was written`)
    this.name = 'VolumeFullError'
  }
}

/**
 * LMDB failed to write its pages anyway (a disk that filled between the
 * check and the write, or failed): its memory is no longer trusted, so the
 * process must end, without closing the store, and its restart recovers
 * from the snapshot and the changelog as after any crash.
 */
export class ProcessRestartRequiredError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options)
    this.name = 'ProcessRestartRequiredError'
  }
}

/** An error of the file system (an errno, positive) out of LMDB's commit, as opposed to LMDB's own codes (negative). */
const isPageWriteFailure = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code
  return (typeof code === 'number' && code > 0) || (err instanceof Error && /Attempting to write page/.test(err.message))
}

/** A changelog replay in progress (see `StateStore.beginReplay`). */
export interface Replay {
  /** One batch, newest record per key. Resolves once the store can take the next one. */
  apply(records: ReadonlyMap<string, WindowAgg | null>): Promise<void>
  /** Writes the metadata the replay ends at, once every batch is in; resolves to how many records were written. */
  finish(meta: StoreMeta | undefined): Promise<number>
}

/**
 * One shard's state in LMDB: windows by key, plus two indexes by window start
 * (open and final windows) so closing and expiring windows never scans the
 * whole state.
 */
export class StateStore implements StateView {
  readonly #env: RootDatabase
  readonly #windows: Database<WindowAgg, string>
  readonly #open: Database<true, IndexKey>
  readonly #final: Database<true, IndexKey>
  readonly #meta: Database<StoreMeta, string>
  #broken: ProcessRestartRequiredError | undefined

  private constructor(readonly path: string) {
    // The live store need not be durable: recovery never trusts it and
    // rebuilds from a snapshot copy plus the changelog.
    this.#env = open({ path, maxDbs: 8, noSync: true, noMemInit: true })
    this.#windows = this.#env.openDB(windowsOptions)
    this.#open = this.#env.openDB({ name: 'open' })
    this.#final = this.#env.openDB({ name: 'final' })
    this.#meta = this.#env.openDB({ name: 'meta' })
  }

  static open(path: string): StateStore {
    return new StateStore(path)
  }

  get(key: string): WindowAgg | undefined {
    return this.#windows.get(key)
  }

  *openWindowsBefore(startBelow: number): Iterable<string> {
    for (const [start, zone] of this.#open.getKeys({ start: [-Number.MAX_SAFE_INTEGER, ''], end: [startBelow, ''] })) yield windowKey(zone, start)
  }

  *finalWindowsBefore(startBelow: number): Iterable<string> {
    for (const [start, zone] of this.#final.getKeys({ start: [-Number.MAX_SAFE_INTEGER, ''], end: [startBelow, ''] })) yield windowKey(zone, start)
  }

  meta(): StoreMeta | undefined {
    return this.#meta.get('shard')
  }

  /** From LMDB's own statistics: no scan, whatever the size of the state. */
  windowCount(): number {
    return (this.#windows.getStats() as { entryCount: number }).entryCount
  }

  *entries(): Iterable<[string, WindowAgg]> {
    for (const { key, value } of this.#windows.getRange()) yield [key, value]
  }

  /** Writes a committed batch: every change and the new position, atomically. */
  apply(changes: ReadonlyMap<string, WindowAgg | null>, meta: StoreMeta): void {
    this.#write(changes.size, () => {
      for (const [key, agg] of changes) this.#put(key, agg, this.#windows.get(key))
      this.#meta.putSync('shard', meta)
    })
  }

  /** Refuses a write the volume may lack room for (see FREE_SPACE_FLOOR), and one to a store LMDB failed to write. */
  #ensureRoom(bytes: number): void {
    if (this.#broken) throw this.#broken
    const fs = statfsSync(this.path)
    const free = fs.bavail * fs.bsize
    const needed = FREE_SPACE_FLOOR + bytes
    if (free < needed) throw new VolumeFullError(this.path, free, needed)
  }

  /** Marks the store broken when LMDB failed to write its pages; returns the error to throw. */
  #failed(err: unknown): unknown {
    if (!isPageWriteFailure(err)) return err
    this.#broken = new ProcessRestartRequiredError(`LMDB failed to write the state at ${this.path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    return this.#broken
  }

  /** One synchronous write transaction of `updates` windows, checked for room first. */
  #write(updates: number, fn: () => void): void {
    this.#ensureRoom(updates * BYTES_PER_UPDATE)
    try {
      this.#env.transactionSync(fn)
    } catch (err) {
      throw this.#failed(err)
    }
  }

  /**
   * Starts replaying a changelog into this store. Onto a restored snapshot
   * (a tail of a few thousand records) each batch is one write transaction
   * that compares every record with what the store holds, by `seq`.
   */
  beginReplay(): Replay {
    if (this.windowCount() === 0) return this.#replayIntoEmpty()
    let applied = 0
    return {
      apply: async (records) => {
        applied += this.replay(records, undefined)
      },
      finish: async (meta) => {
        if (meta) this.replay(new Map(), meta)
        return applied
      },
    }
  }

  /**
   * A whole changelog into an empty store (no snapshot to start from). The
   * writes go to LMDB's own write thread, which runs the B-tree inserts while
   * this thread decodes the next batch; one batch waits behind the one being
   * written, no more. Nothing is read back: every record comes after the ones
   * before it in the log, which is the order of `seq` for a key, so each write
   * replaces what an earlier one left. The metadata goes last.
   */
  #replayIntoEmpty(): Replay {
    let written = 0
    let inFlight: Promise<unknown> = Promise.resolve()
    return {
      apply: async (records) => {
        await inFlight.catch((err: unknown) => Promise.reject(this.#failed(err)))
        this.#ensureRoom(records.size * BYTES_PER_APPEND)
        let last: Promise<unknown> | undefined
        for (const [key, value] of records) {
          const w = parseWindowKey(key)
          if (!w) continue // not a window: nothing to store, as in #put
          const idx: IndexKey = [w.windowStart, w.zone]
          // LMDB commits queued writes in order: once the batch's last write
          // is committed, so are those before it.
          if (value === null) {
            void this.#windows.remove(key)
            void this.#open.remove(idx)
            last = this.#final.remove(idx)
          } else if (value.final) {
            void this.#windows.put(key, value)
            void this.#open.remove(idx)
            last = this.#final.put(idx, true)
          } else {
            void this.#windows.put(key, value)
            last = this.#open.put(idx, true)
          }
          written++
        }
        if (last) {
          // Awaited by the next batch or by finish(); a replay given up half-way must not leave it unhandled.
          last.catch(() => undefined)
          inFlight = last
        }
      },
      finish: async (meta) => {
        await inFlight.catch((err: unknown) => Promise.reject(this.#failed(err)))
        if (meta) {
          this.#ensureRoom(0)
          await this.#meta.put('shard', meta).catch((err: unknown) => Promise.reject(this.#failed(err)))
        }
        return written
      },
    }
  }

  /**
   * Applies changelog records in one write transaction: a record not newer
   * (by `seq`) than what the store holds is skipped, so replaying from before
   * the snapshot is harmless. Returns how many records changed the state.
   */
  replay(records: ReadonlyMap<string, WindowAgg | null>, meta: StoreMeta | undefined): number {
    let applied = 0
    this.#write(records.size, () => {
      for (const [key, value] of records) {
        const have = this.#windows.get(key)
        if (value === null ? !have : have && have.seq >= value.seq) continue
        this.#put(key, value, have)
        applied++
      }
      if (meta) this.#meta.putSync('shard', meta)
    })
    return applied
  }

  /**
   * A window and its index entries, inside a write transaction. `have` is the
   * value it replaces: when the window stays open (or final) its index entry
   * is already right, and most writes are such updates.
   */
  #put(key: string, agg: WindowAgg | null, have: WindowAgg | undefined): void {
    const w = parseWindowKey(key)
    if (!w) return
    const idx: IndexKey = [w.windowStart, w.zone]
    if (agg === null) {
      this.#windows.removeSync(key)
      this.#open.removeSync(idx)
      this.#final.removeSync(idx)
      return
    }
    this.#windows.putSync(key, agg)
    if (have && have.final === agg.final) return
    if (agg.final) {
      this.#open.removeSync(idx)
      this.#final.putSync(idx, true)
    } else {
      this.#open.putSync(idx, true)
    }
  }

  /** Where a copy made by `backup` stands and how many windows it holds, read without writing to it. */
  static async readCopy(dir: string): Promise<{ meta: StoreMeta | undefined; windows: number }> {
    const env = open({ path: dir, maxDbs: 8, readOnly: true })
    try {
      const meta = env.openDB<StoreMeta, string>({ name: 'meta' }).get('shard')
      const windows = (env.openDB(windowsOptions).getStats() as { entryCount: number }).entryCount
      return { meta, windows }
    } finally {
      await env.close()
    }
  }

  /**
   * LMDB's own consistent copy (non-compacting) of the whole environment into
   * `dir`, as of the moment it starts: writes may go on while it runs.
   */
  async backup(dir: string): Promise<void> {
    await this.#env.backup(dir, false)
  }

  /** Left open when LMDB failed to write: closing would run more of its code on memory it may have overrun. */
  async close(): Promise<void> {
    if (!this.#broken) await this.#env.close()
  }
}

export const newStoreMeta = (m: ShardMeta, lastChangelogOffset: number): StoreMeta => ({ ...m, lastChangelogOffset, schemaVersion: STORE_VERSION })
