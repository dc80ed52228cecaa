import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, readFileSync } from 'node:fs'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { Agent } from 'node:https'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import type { OpbConfig } from '../config.js'
import { fsyncPath, writeFileAtomic } from './files.js'
import { remoteLocation } from './remote-location.js'
import { manifestSchema, type SnapshotManifest } from './snapshots.js'

/**
 * Copies of a shard's full snapshots in an S3-compatible object store:
 *
 *   <prefix><namespace>.<pipeline>/opb-<shard>/<snapshotId>/data.mdb
 *   <prefix><namespace>.<pipeline>/opb-<shard>/<snapshotId>/manifest.json
 *
 * The manifest is written last: a copy is whole once its manifest is there.
 * A download is checked against the manifest's size and SHA-256 before it
 * is used, like a snapshot on the volume.
 *
 * This module loads the AWS SDK: the worker imports it only when it needs
 * the store (`loadRemoteSnapshots`), so a shard without one, or one that
 * recovers from its own volume, never pays for loading it at start-up.
 */

/** Multipart parts: large enough for few requests, small enough to hold two in memory. */
const PART_BYTES = 16 << 20

export class RemoteSnapshotError extends Error {
  constructor(what: string, cause: unknown) {
    super(`remote snapshot store: ${what}: ${describe(cause)}`, { cause })
    this.name = 'RemoteSnapshotError'
  }
}

/** The store's own words: an S3 error's code and message, or a network error's. */
function describe(err: unknown): string {
  const e = err as { name?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string }
  const status = e?.$metadata?.httpStatusCode
  const code = e?.Code ?? (e?.name && e.name !== 'Error' ? e.name : undefined) ?? e?.code
  return [code, status ? `HTTP ${status}` : undefined, e?.message].filter(Boolean).join(': ') || String(err)
}

export interface RemoteUpload {
  snapshotId: string
  bytes: number
  ms: number
}

export class RemoteSnapshots {
  readonly #s3: S3Client
  readonly bucket: string
  /** This shard's key prefix, ending with '/'. */
  readonly base: string
  readonly where: string

  constructor(cfg: OpbConfig & { REMOTE_SNAPSHOTS_BUCKET: string }) {
    const endpoint = cfg.REMOTE_SNAPSHOTS_ENDPOINT
    const ca = cfg.REMOTE_SNAPSHOTS_CA_FILE ? readFileSync(cfg.REMOTE_SNAPSHOTS_CA_FILE) : undefined
    this.#s3 = new S3Client({
      region: cfg.REMOTE_SNAPSHOTS_REGION,
      ...(endpoint ? { endpoint } : {}),
      forcePathStyle: cfg.REMOTE_SNAPSHOTS_PATH_STYLE ? cfg.REMOTE_SNAPSHOTS_PATH_STYLE === 'true' : endpoint !== undefined,
      maxAttempts: 3,
      requestHandler: new NodeHttpHandler({
        connectionTimeout: 5000,
        // Per socket inactivity, not per request: a large transfer that moves is never cut.
        requestTimeout: 30_000,
        ...(ca ? { httpsAgent: new Agent({ ca, keepAlive: true }) } : {}),
      }),
    })
    const at = remoteLocation(cfg)
    this.bucket = at.bucket
    this.base = at.base
    this.where = at.where
  }

  #key(snapshotId: string, file: string): string {
    return `${this.base}${snapshotId}/${file}`
  }

  /** Copies a full snapshot from its directory on the volume: the data first, the manifest last. */
  async upload(dir: string, m: SnapshotManifest, nowMs: () => number): Promise<RemoteUpload> {
    if (m.kind !== 'full') throw new Error(`only full snapshots are copied (${m.snapshotId} is ${m.kind})`)
    const t0 = nowMs()
    try {
      const upload = new Upload({
        client: this.#s3,
        params: { Bucket: this.bucket, Key: this.#key(m.snapshotId, 'data.mdb'), Body: createReadStream(join(dir, 'data.mdb')), ContentLength: m.sizeBytes },
        partSize: PART_BYTES,
        queueSize: 2,
        leavePartsOnError: false,
      })
      await upload.done()
      await this.#s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.#key(m.snapshotId, 'manifest.json'), Body: JSON.stringify(m), ContentType: 'application/json' }))
    } catch (err) {
      throw new RemoteSnapshotError(`copying ${m.snapshotId} to ${this.where}`, err)
    }
    return { snapshotId: m.snapshotId, bytes: m.sizeBytes, ms: nowMs() - t0 }
  }

  /** The snapshot ids in the store, newest first (whole or not: `manifest` tells). */
  async ids(): Promise<string[]> {
    const ids: string[] = []
    try {
      let token: string | undefined
      do {
        const page = await this.#s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.base, Delimiter: '/', ContinuationToken: token }))
        for (const p of page.CommonPrefixes ?? []) if (p.Prefix) ids.push(p.Prefix.slice(this.base.length, -1))
        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
    } catch (err) {
      throw new RemoteSnapshotError(`listing ${this.where}`, err)
    }
    return ids.sort().reverse()
  }

  /** A copy's manifest; undefined when the copy is not whole (no manifest). */
  async manifest(snapshotId: string, shard: number): Promise<SnapshotManifest | undefined> {
    let text: string
    try {
      const r = await this.#s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.#key(snapshotId, 'manifest.json') }))
      text = await r.Body!.transformToString()
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined
      throw new RemoteSnapshotError(`reading the manifest of ${snapshotId}`, err)
    }
    const m = manifestSchema.parse(JSON.parse(text))
    if (m.snapshotId !== snapshotId || m.shard !== shard || m.kind !== 'full') throw new Error(`manifest of ${snapshotId} names ${m.kind} snapshot ${m.snapshotId} of shard ${m.shard}`)
    return m
  }

  /**
   * Downloads a copy into `root/<snapshotId>` the way a snapshot is written
   * on the volume: into a temporary directory, checked against its manifest
   * (size and SHA-256), fsynced, then renamed into place.
   */
  async download(m: SnapshotManifest, root: string): Promise<{ bytes: number }> {
    const tmp = join(root, `.tmp-remote-${m.snapshotId}`)
    try {
      await rm(tmp, { recursive: true, force: true })
      await mkdir(tmp, { recursive: true })
      const file = join(tmp, 'data.mdb')
      let r
      try {
        r = await this.#s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.#key(m.snapshotId, 'data.mdb') }))
      } catch (err) {
        throw new RemoteSnapshotError(`downloading ${m.snapshotId}`, err)
      }
      const hash = createHash('sha256')
      const hashing = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk)
          done(null, chunk)
        },
      })
      try {
        await pipeline(r.Body as NodeJS.ReadableStream, hashing, createWriteStream(file))
      } catch (err) {
        throw new RemoteSnapshotError(`downloading ${m.snapshotId}`, err)
      }
      const size = (await stat(file)).size
      if (size !== m.sizeBytes) throw new Error(`copy ${m.snapshotId} has ${size} bytes, its manifest says ${m.sizeBytes}`)
      if (hash.digest('hex') !== m.sha256) throw new Error(`copy ${m.snapshotId} fails its checksum`)
      await fsyncPath(file)
      await writeFileAtomic(join(tmp, 'manifest.json'), JSON.stringify(m, null, 1))
      await fsyncPath(tmp, true)
      await rm(join(root, m.snapshotId), { recursive: true, force: true })
      await rename(tmp, join(root, m.snapshotId))
      await fsyncPath(root, true)
      return { bytes: size }
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
      throw err
    }
  }

  /** Deletes all but the newest `keep` whole copies (and any partial copy older than them). */
  async prune(keep: number, shard: number): Promise<string[]> {
    const ids = await this.ids()
    let whole = 0
    let cut = ids.length
    for (let i = 0; i < ids.length; i++) {
      if (await this.manifest(ids[i]!, shard).catch(() => undefined)) whole++
      if (whole === keep) {
        cut = i + 1
        break
      }
    }
    const old = ids.slice(cut)
    if (old.length === 0) return []
    const keys: string[] = []
    try {
      for (const id of old) {
        let token: string | undefined
        do {
          const page = await this.#s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.base}${id}/`, ContinuationToken: token }))
          for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key)
          token = page.IsTruncated ? page.NextContinuationToken : undefined
        } while (token)
      }
      // The manifests first: a copy being deleted is never taken for whole.
      const manifests = keys.filter((k) => k.endsWith('/manifest.json'))
      for (const batch of [manifests, keys.filter((k) => !k.endsWith('/manifest.json'))]) {
        for (let i = 0; i < batch.length; i += 1000) {
          await this.#s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }))
        }
      }
    } catch (err) {
      throw new RemoteSnapshotError(`deleting old copies from ${this.where}`, err)
    }
    return old
  }

  close(): void {
    this.#s3.destroy()
  }
}

/** The store's client, with the SDK loaded on first use. */
export async function loadRemoteSnapshots(cfg: OpbConfig & { REMOTE_SNAPSHOTS_BUCKET: string }): Promise<RemoteSnapshots> {
  return new RemoteSnapshots(cfg)
}
