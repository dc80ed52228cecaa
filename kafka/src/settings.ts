import { readFileSync } from 'node:fs'
import { NetworkError, type Broker } from '@platformatic/kafka'
import { usesSasl, usesTls, type KafkaConnectionVars } from '@ridepulse/contracts'

export interface KafkaSettings {
  brokers: string[]
  clientId: string
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string }
  /**
   * TLS to every broker, its certificate verified against `ca` (PEM; the
   * runtime's trusted authorities without it) and the host name connected
   * to. `cert` and `key` (PEM, both or none) are the client's certificate,
   * for brokers that require mutual TLS.
   */
  tls?: { ca?: string; cert?: string; key?: string }
  /** Replication factor of the topics this process creates; -1 takes the broker's default. */
  replicationFactor?: number
}

/**
 * The client looks brokers up in its cluster metadata by id (a transaction
 * or group coordinator, say) and hands what it finds to its connection
 * pool, which throws out of a callback, taking the process down, when the
 * broker is not there: a killed broker leaves the metadata before the
 * coordinator moves. Made into a failed call instead, the operation fails
 * and its caller goes through its ordinary recovery.
 */
export function refuseUnknownBrokers<C extends { connections: { get: (broker: Broker, callback?: never) => unknown } }>(client: C): C {
  const pool = client.connections as unknown as { get: (broker: Broker | undefined, callback?: (err: Error | null, c?: unknown) => void) => unknown }
  const get = pool.get.bind(pool)
  pool.get = (broker, callback) => {
    if (broker) return get(broker, callback)
    const err = new NetworkError('a broker named by the cluster metadata is no longer in it (it left the cluster)')
    if (callback) return callback(err)
    return Promise.reject(err)
  }
  return client
}

/**
 * Where and as whom every client of this module connects. Host names are
 * always verified: nothing here turns the runtime's checks off.
 */
export const connection = (s: KafkaSettings) => ({
  bootstrapBrokers: s.brokers,
  ...(s.sasl ? { sasl: s.sasl } : {}),
  ...(s.tls ? { tls: { ...(s.tls.ca ? { ca: s.tls.ca } : {}), ...(s.tls.cert ? { cert: s.tls.cert } : {}), ...(s.tls.key ? { key: s.tls.key } : {}) } } : {}),
})

/** The security protocol of the settings, in Kafka's own words (`security.protocol`). */
export const securityProtocol = (s: Pick<KafkaSettings, 'sasl' | 'tls'>): 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL' =>
  s.tls ? (s.sasl ? 'SASL_SSL' : 'SSL') : s.sasl ? 'SASL_PLAINTEXT' : 'PLAINTEXT'

/**
 * The TLS half of the settings from a program's connection variables: the
 * PEM files read and checked for what they must hold. Every problem is
 * returned, each naming its variable, for the program to refuse to start with.
 */
export function tlsFromFiles(vars: Pick<KafkaConnectionVars, 'KAFKA_SECURITY_PROTOCOL' | 'KAFKA_TLS_CA_FILE' | 'KAFKA_TLS_CERT_FILE' | 'KAFKA_TLS_KEY_FILE'>): { tls?: KafkaSettings['tls']; issues: string[] } {
  if (!usesTls(vars.KAFKA_SECURITY_PROTOCOL)) return { issues: [] }
  const issues: string[] = []
  const read = (name: string, path: string | undefined, must: RegExp, what: string): string | undefined => {
    if (path === undefined) return undefined
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      issues.push(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
      return undefined
    }
    if (!must.test(text)) issues.push(`${name}: ${path} holds no ${what} in PEM form`)
    return text
  }
  const ca = read('KAFKA_TLS_CA_FILE', vars.KAFKA_TLS_CA_FILE, /-----BEGIN CERTIFICATE-----/, 'certificate')
  const cert = read('KAFKA_TLS_CERT_FILE', vars.KAFKA_TLS_CERT_FILE, /-----BEGIN CERTIFICATE-----/, 'certificate')
  const key = read('KAFKA_TLS_KEY_FILE', vars.KAFKA_TLS_KEY_FILE, /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/, 'private key')
  return { tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) }, issues }
}

/**
 * The settings a program's connection variables describe (parsed and checked
 * by `kafkaConnectionRules`). Throws naming the variable when a TLS file
 * cannot be used: check with `tlsFromFiles` first to report every problem.
 */
export function settingsFromEnv(vars: KafkaConnectionVars, clientId: string): KafkaSettings {
  const { tls, issues } = tlsFromFiles(vars)
  if (issues.length > 0) throw new Error(issues.join('; '))
  const sasl = usesSasl(vars.KAFKA_SECURITY_PROTOCOL) && vars.KAFKA_SASL_MECHANISM && vars.KAFKA_SASL_USERNAME && vars.KAFKA_SASL_PASSWORD
    ? { mechanism: vars.KAFKA_SASL_MECHANISM, username: vars.KAFKA_SASL_USERNAME, password: vars.KAFKA_SASL_PASSWORD }
    : undefined
  return { brokers: vars.KAFKA_BROKERS, clientId, ...(sasl ? { sasl } : {}), ...(tls ? { tls } : {}) }
}
