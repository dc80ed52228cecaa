import { NetworkError, type Broker } from '@platformatic/kafka'

export interface KafkaSettings {
  brokers: string[]
  clientId: string
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string }
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

/** Where and as whom every client of this module connects. */
export const connection = (s: KafkaSettings) => ({ bootstrapBrokers: s.brokers, ...(s.sasl ? { sasl: s.sasl } : {}) })
