import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, openSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { freePort } from './kube.js'
import type { WorkerEnv } from './pipeline.js'
import { killIfOrphaned, onTeardown } from './teardown.js'

const BUILD = fileURLToPath(new URL('../../scripts/minio/build.sh', import.meta.url))

/** A real S3-compatible server (MinIO, built from source by scripts/minio/build.sh) on a fresh directory. */
export interface LocalObjectStore {
  endpoint: string
  bucket: string
  accessKeyId: string
  secretAccessKey: string
  /** What an OpB worker needs to copy its snapshots there. */
  env: WorkerEnv
  /** The process's environment for the worker: the credentials, as the operator gives them. */
  credentials: Record<string, string>
  s3: S3Client
  /** Every key under `prefix`. */
  keys(prefix?: string): Promise<string[]>
  /** Deletes every key under `prefix`. */
  clear(prefix?: string): Promise<void>
  /** The server's log file. */
  log: string
  stop(): Promise<void>
}

async function waitLive(endpoint: string, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const why = exited()
    if (why) throw new Error(`MinIO exited while starting (${why})`)
    try {
      if ((await fetch(`${endpoint}/minio/health/live`)).ok) return
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`MinIO did not answer at ${endpoint} within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * Starts MinIO on `host` (loopback unless a pod must reach it) with one
 * bucket, building it first if the cache lacks it.
 */
export async function startObjectStore(opts: { host?: string; bucket?: string } = {}): Promise<LocalObjectStore> {
  const bin = execFileSync('bash', [BUILD], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  const host = opts.host ?? '127.0.0.1'
  const bucket = opts.bucket ?? 'ridepulse-snapshots'
  const dir = mkdtempSync(join(tmpdir(), 'ridepulse-minio-'))
  const [port, consolePort] = [await freePort(), await freePort()]
  const accessKeyId = 'ridepulse-test'
  const secretAccessKey = 'ridepulse-test-secret'
  const log = join(dir, 'minio.log')
  const out = openSync(log, 'a')
  const child = spawn(join(bin, 'minio'), ['server', join(dir, 'data'), '--address', `${host}:${port}`, '--console-address', `${host}:${consolePort}`, '--quiet'], {
    env: { ...process.env, MINIO_ROOT_USER: accessKeyId, MINIO_ROOT_PASSWORD: secretAccessKey, MINIO_BROWSER: 'off', MINIO_UPDATE: 'off' },
    stdio: ['ignore', out, out],
  })
  killIfOrphaned(child)
  let exit: string | undefined
  child.once('exit', (code, signal) => (exit = `code ${code}, signal ${signal}`))
  const endpoint = `http://${host}:${port}`
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } })
  const stop = async () => {
    forget()
    s3.destroy()
    if (exit === undefined) {
      const gone = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))])
      if (exit === undefined) child.kill('SIGKILL')
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const forget = onTeardown(stop)
  try {
    await waitLive(endpoint, 30_000, () => exit)
    await s3.send(new CreateBucketCommand({ Bucket: bucket }))
  } catch (err) {
    await stop()
    throw err
  }
  const keys = async (prefix = '') => {
    const all: string[] = []
    let token: string | undefined
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
      for (const o of page.Contents ?? []) if (o.Key) all.push(o.Key)
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    return all.sort()
  }
  return {
    endpoint,
    bucket,
    accessKeyId,
    secretAccessKey,
    env: { REMOTE_SNAPSHOTS_BUCKET: bucket, REMOTE_SNAPSHOTS_ENDPOINT: endpoint },
    credentials: { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey },
    s3,
    keys,
    clear: async (prefix = '') => {
      const all = await keys(prefix)
      for (let i = 0; i < all.length; i += 1000) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: all.slice(i, i + 1000).map((Key) => ({ Key })) } }))
    },
    log,
    stop,
  }
}
