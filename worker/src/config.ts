import { parseWorkerEnv, type WorkerConfig } from '@ridepulse/contracts'
import { settingsFromEnv, tlsFromFiles, type KafkaSettings } from '@ridepulse/kafka'

export type { OpaConfig, OpbConfig, WorkerConfig } from '@ridepulse/contracts'

/** How a worker's clients reach the brokers. */
export function kafkaSettings(cfg: WorkerConfig, clientId: string): KafkaSettings {
  return { ...settingsFromEnv(cfg, clientId), replicationFactor: cfg.TOPIC_REPLICATION_FACTOR }
}

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** Reads the worker's configuration from the environment, TLS files included; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): WorkerConfig {
  const r = parseWorkerEnv(env)
  if (!r.ok) throw new ConfigError(r.issues)
  const { issues } = tlsFromFiles(r.config)
  if (issues.length > 0) throw new ConfigError(issues)
  return r.config
}
