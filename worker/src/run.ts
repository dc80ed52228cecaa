import { pino } from 'pino'
import { usesTls } from '@ridepulse/contracts'
import { connectionProblem, ensureTopics } from '@ridepulse/kafka'
import { ConfigError, kafkaSettings, loadConfig, type WorkerConfig } from './config.js'
import type { WorkerHooks } from './hooks.js'
import { startHttp } from './http.js'
import { createMetrics } from './metrics.js'
import { OpaInstance } from './opa/opa.js'
import { OpbShard, StoppedWhileStandingByError } from './opb/opb.js'
import type { EarlyRestore } from './opb/early-restore.js'
import { ProcessRestartRequiredError } from './store/state-store.js'
import { pipelineTopics } from './topics.js'

/**
 * One worker process from start to exit: configuration, then OpA or one OpB
 * shard until SIGTERM or a failure. Never returns: it exits with 0 after a
 * clean stop, 1 after a failure, 2 on an invalid configuration.
 */
export async function runWorker(env: Record<string, string | undefined>, startedAt: number, early: EarlyRestore | undefined, hooks: WorkerHooks = {}): Promise<never> {
  let cfg: WorkerConfig
  try {
    cfg = loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message)
      process.exit(2)
    }
    throw err
  }

  const log = pino({ level: cfg.LOG_LEVEL, base: { pipeline: cfg.PIPELINE, role: cfg.ROLE } })
  const unit = cfg.ROLE === 'opb' ? { shard: cfg.SHARD } : { index: cfg.OPA_INDEX }
  const metrics = createMetrics({ pipeline: cfg.PIPELINE, role: cfg.ROLE, ...Object.fromEntries(Object.entries(unit).map(([k, v]) => [k, String(v)])) })
  const worker = cfg.ROLE === 'opb' ? new OpbShard(cfg, log.child(unit), metrics, Date.now, early, hooks) : new OpaInstance(cfg, log.child(unit), metrics, Date.now, hooks)
  const server = await startHttp(cfg.HTTP_PORT, metrics.registry, worker, cfg.HTTP_HOST)

  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal, timeoutMs: cfg.SHUTDOWN_TIMEOUT_MS }, 'stopping')
    void worker.stop()
    // With the broker away, the last fetch, abort or close can wait far longer
    // than Kubernetes' grace period. Nothing is lost by leaving then: an open
    // transaction is aborted by the next owner's fence or by the coordinator.
    setTimeout(() => {
      log.warn({ timeoutMs: cfg.SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out; exiting with anything still open left to the broker to abort')
      process.exit(1)
    }, cfg.SHUTDOWN_TIMEOUT_MS).unref()
  }
  // An error thrown out of a client's callback cannot be caught where it
  // happens: log it where the worker's logs go before the process ends.
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; exiting')
    process.exit(1)
  })
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))

  let code = 0
  try {
    const topicsReady = ensureTopics(kafkaSettings(cfg, `${cfg.PIPELINE}-${cfg.ROLE}`), pipelineTopics(cfg))
    if (worker instanceof OpbShard) {
      await Promise.all([worker.start(startedAt, topicsReady), topicsReady])
    } else {
      await topicsReady
      await worker.start()
    }
    await worker.run()
  } catch (err) {
    code = err instanceof StoppedWhileStandingByError ? 0 : 1
    // A certificate, a password or a listener that does not match: said in
    // words, for the pod's log, before the exit that Kubernetes will retry.
    const problem = connectionProblem(err, usesTls(cfg.KAFKA_SECURITY_PROTOCOL))
    if (code === 0) log.info('stopped while standing by')
    else if (problem) log.error({ err, reason: problem.reason, brokers: cfg.KAFKA_BROKERS, securityProtocol: cfg.KAFKA_SECURITY_PROTOCOL }, `cannot use the Kafka cluster: ${problem.message}`)
    else if (err instanceof ProcessRestartRequiredError) log.fatal({ err }, `${err.message}; exiting so that the restart recovers from the snapshot and the changelog`)
    else log.error({ err }, 'worker failed')
  } finally {
    await worker.close().catch((err: unknown) => log.warn({ err }, 'close failed'))
    server.close()
  }
  log.info({ code }, 'stopped')
  process.exit(code)
}
