import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, rename, stat, writeFile } from 'node:fs/promises'
import { Worker } from 'node:worker_threads'

/** Durable writes, checksums and the errors of the data volume, for the snapshot store. */

export async function fsyncPath(path: string, dir = false): Promise<void> {
  const fh = await open(path, dir ? 'r' : 'r+')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

// Hashing a large snapshot takes hundreds of milliseconds of CPU: in a worker
// thread it runs beside the fence, the manifest read and the copy instead of
// holding up the event loop.
const HASH_IN_THREAD_FROM_BYTES = 8 << 20
// Plain reads into one reused buffer: a stream's per-chunk allocations cost
// about as much as the hashing itself at these sizes.
const HASH_WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const { openSync, readSync, closeSync } = require('node:fs')
try {
  const hash = createHash('sha256')
  const buf = Buffer.allocUnsafe(16 << 20)
  const fd = openSync(workerData, 'r')
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n))
  } finally {
    closeSync(fd)
  }
  parentPort.postMessage(hash.digest('hex'))
} catch (err) {
  parentPort.postMessage({ error: err.message })
}
`

export async function sha256File(path: string): Promise<string> {
  return hashFile(path, (await stat(path)).size)
}

/** Large files go to a worker thread, started before this returns. */
export function hashFile(path: string, size: number): Promise<string> {
  if (size >= HASH_IN_THREAD_FROM_BYTES) {
    return new Promise((resolve, reject) => {
      const worker = new Worker(HASH_WORKER, { eval: true, workerData: path })
      worker.once('message', (m: string | { error: string }) => (typeof m === 'string' ? resolve(m) : reject(new Error(m.error))))
      worker.once('error', reject)
    })
  }
  return (async () => {
    const hash = createHash('sha256')
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
    return hash.digest('hex')
  })()
}

/** Writes a small file the safe way: temp file, fsync, rename, fsync the directory. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`
  await writeFile(tmp, data)
  await fsyncPath(tmp)
  await rename(tmp, path)
}

/** An error of the data volume itself (full, over quota, read-only, failing): waiting or a restart may cure it, retrying at once does not. */
export function isVolumeError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && ['ENOSPC', 'EDQUOT', 'EROFS', 'EIO'].includes(code)) return true
    if (e instanceof Error && /ENOSPC|No space left|EDQUOT|quota exceeded|EROFS|read-only file system|MDB_MAP_FULL/i.test(e.message)) return true
  }
  return false
}
