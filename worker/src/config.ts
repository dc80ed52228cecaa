import { parseWorkerEnv, type WorkerConfig } from '@ridepulse/contracts'
import type { KafkaSettings } from '@ridepulse/kafka'

export type { OpaConfig, OpbConfig, WorkerConfig } from '@ridepulse/contracts'

/** How a worker's clients reach the brokers. */
export function kafkaSettings(cfg: WorkerConfig, clientId: string): KafkaSettings {
  const sasl = cfg.KAFKA_SASL_MECHANISM && cfg.KAFKA_SASL_USERNAME && cfg.KAFKA_SASL_PASSWORD
    ? { mechanism: cfg.KAFKA_SASL_MECHANISM, username: cfg.KAFKA_SASL_USERNAME, password: cfg.KAFKA_SASL_PASSWORD }
    : undefined
  return { brokers: cfg.KAFKA_BROKERS, clientId, replicationFactor: cfg.TOPIC_REPLICATION_FACTOR, ...(sasl ? { sasl } : {}) }
}

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** Reads the worker's configuration from the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): WorkerConfig {
  const r = parseWorkerEnv(env)
  if (r.ok) return r.config
  throw new ConfigError(r.issues)
}
