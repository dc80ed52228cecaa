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
  /** One batch, newest record per key. Resolves once the store can take the next one. */
  apply(records: Iterable<[string, WindowAgg | null]>): Promise<void>
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
        if (meta) this.replay([], meta)
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
        await inFlight
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
        await inFlight
        if (meta) await this.#meta.put('shard', meta)
        return written
      },
    }
  }

  /**
   * Applies changelog records in one write transaction: a record not newer
   * (by `seq`) than what the store holds is skipped, so replaying from before
   * the snapshot is harmless. Returns how many records changed the state.
   */
  replay(records: Iterable<[string, WindowAgg | null]>, meta: StoreMeta | undefined): number {
    let applied = 0
    this.#env.transactionSync(() => {
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

  /** LMDB's own consistent copy (non-compacting) of the whole environment into `dir`. */
  async backup(dir: string): Promise<void> {
    await this.#env.backup(dir, false)
  }

  async close(): Promise<void> {
    await this.#env.close()
  }
}

export const newStoreMeta = (m: ShardMeta, lastChangelogOffset: number): StoreMeta => ({ ...m, lastChangelogOffset, schemaVersion: STORE_VERSION })
