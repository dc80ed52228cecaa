import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node'
import { renderWorkerEnv, type PipelineSpec, type WorkerEnvName } from '@ridepulse/contracts'

/** The worker variables the pod builders render; the optional parts of an OpB pod (snapshot copies, standby) with theirs. */

/** Environment variables from typed values: only names the worker reads compile (see `renderWorkerEnv`). */
export const envVars = (values: Parameters<typeof renderWorkerEnv>[0]): V1EnvVar[] => Object.entries(renderWorkerEnv(values)).map(([name, value]) => ({ name, value }))
export const secretEnv = (name: WorkerEnvName | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY', secret: string, key: string): V1EnvVar => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } })

/** Where the object store's CA (`spec.snapshots.remote.caSecretName`) is mounted. */
export const REMOTE_CA_DIR = '/etc/ridepulse/snapshots-ca'

/** OpB's copies of full snapshots in an object store (`spec.snapshots.remote`): variables, credentials from their Secret, the CA's volume. */
export function remoteSnapshots(spec: PipelineSpec): { env: V1EnvVar[]; volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const r = spec.snapshots.remote
  if (!r) return { env: [], volumes: [], mounts: [] }
  const env = envVars({
    REMOTE_SNAPSHOTS_BUCKET: r.bucket,
    REMOTE_SNAPSHOTS_PREFIX: r.prefix || undefined,
    REMOTE_SNAPSHOTS_ENDPOINT: r.endpoint,
    REMOTE_SNAPSHOTS_REGION: r.region,
    REMOTE_SNAPSHOTS_PATH_STYLE: r.pathStyle === undefined ? undefined : String(r.pathStyle),
    REMOTE_SNAPSHOTS_KEEP: r.keep,
    REMOTE_SNAPSHOTS_CA_FILE: r.caSecretName ? `${REMOTE_CA_DIR}/ca.crt` : undefined,
  })
  const c = r.credentials
  if (c) env.push(secretEnv('AWS_ACCESS_KEY_ID', c.secretName, c.accessKeyIdKey), secretEnv('AWS_SECRET_ACCESS_KEY', c.secretName, c.secretAccessKeyKey))
  if (!r.caSecretName) return { env, volumes: [], mounts: [] }
  return {
    env,
    volumes: [{ name: 'snapshots-ca', secret: { secretName: r.caSecretName, items: [{ key: r.caKey, path: 'ca.crt' }], defaultMode: 0o440 } }],
    mounts: [{ name: 'snapshots-ca', mountPath: REMOTE_CA_DIR, readOnly: true }],
  }
}

/** With standby shards: the pair's settings, and the address the other pod of the pair reaches this one at. */
export function standbyEnv(spec: PipelineSpec, slot: number): V1EnvVar[] {
  const sb = spec.opb.standby
  if (!sb.enabled) return []
  return [
    ...envVars({ STANDBY_ENABLED: 'true', STANDBY_SLOT: slot, STANDBY_HEARTBEAT_MS: sb.heartbeatMs, STANDBY_LEASE_MS: sb.leaseMs, STANDBY_MAX_LAG_RECORDS: sb.maxLagRecords }),
    { name: 'ADVERTISED_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
  ]
}

