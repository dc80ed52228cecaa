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

/** A changelog replay in progress (see `StateStore.beginReplay`). */
export interface Replay {
  /** One batch, newest record per key, in one write transaction. */
  apply(records: Iterable<[string, WindowAgg | null]>): void
  /** Writes the metadata the replay ends at; returns how many records changed the state. */
  finish(meta: StoreMeta | undefined): number
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
    this.#env.transactionSync(() => {
      for (const [key, agg] of changes) this.#put(key, agg, this.#windows.get(key))
      this.#meta.putSync('shard', meta)
    })
  }

  /**
   * Starts replaying a changelog into this store. Into an empty store most
   * records of a full replay are keys seen for the first time: each is
   * inserted only if absent (one B-tree descent, no lookup first), and only a
   * key already written falls back to the comparison by `seq`.
   */
  beginReplay(): Replay {
    const insertFirst = this.windowCount() === 0
    let applied = 0
    return {
      apply: (records) => {
        applied += this.#replay(records, undefined, insertFirst)
      },
      finish: (meta) => {
        if (meta) this.#replay([], meta, insertFirst)
        return applied
      },
    }
  }

  /**
   * Applies changelog records in one write transaction: a record not newer
   * (by `seq`) than what the store holds is skipped, so replaying from before
   * the snapshot is harmless. Returns how many records changed the state.
   */
  replay(records: Iterable<[string, WindowAgg | null]>, meta: StoreMeta | undefined): number {
    return this.#replay(records, meta, false)
  }

  #replay(records: Iterable<[string, WindowAgg | null]>, meta: StoreMeta | undefined, insertFirst: boolean): number {
    let applied = 0
    this.#env.transactionSync(() => {
      for (const [key, value] of records) {
        if (insertFirst && value !== null) {
          const w = parseWindowKey(key)
          if (!w) continue // not a window: nothing to store, as in #put
          if (this.#insertIfAbsent(key, value)) {
            if (value.final) this.#final.putSync([w.windowStart, w.zone], true)
            else this.#open.putSync([w.windowStart, w.zone], true)
            applied++
            continue
          }
        }
        const have = this.#windows.get(key)
        if (value === null ? !have : have && have.seq >= value.seq) continue
        this.#put(key, value, have)
        applied++
      }
      if (meta) this.#meta.putSync('shard', meta)
    })
    return applied
  }

  /** Inside a write transaction, LMDB's put answers whether it wrote (its typings say void). */
  #insertIfAbsent(key: string, agg: WindowAgg): boolean {
    return (this.#windows.putSync(key, agg, { noOverwrite: true }) as unknown) === true
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

  /** LMDB's own consistent copy (non-compacting) of the whole environment into `dir`. */
  async backup(dir: string): Promise<void> {
    await this.#env.backup(dir, false)
  }

  async close(): Promise<void> {
    await this.#env.close()
  }
}

export const newStoreMeta = (m: ShardMeta, lastChangelogOffset: number): StoreMeta => ({ ...m, lastChangelogOffset, schemaVersion: STORE_VERSION })
