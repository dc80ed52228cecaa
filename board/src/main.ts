#!/usr/bin/env node
import { pino } from 'pino'
import { settingsFromEnv } from '@ridepulse/kafka'
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import { ConfigError, loadConfig, type BoardConfig } from './config.js'
import { BoardState } from './core/state.js'
import { OutputFollower } from './follow.js'
import { resourceStatusReader } from './kube.js'
import { HealthPoller, kubernetesSource, workersSource } from './health.js'
import { BoardServer } from './server.js'

let cfg: BoardConfig
try {
  cfg = loadConfig(process.env)
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message)
    process.exit(2)
  }
  throw err
}

const log = pino({ level: cfg.LOG_LEVEL, base: { component: 'board' } })
const registry = new Registry()
collectDefaultMetrics({ register: registry })
const skipped = new Counter({ name: 'ridepulse_board_skipped_records_total', help: 'Records on the output topic that did not decode', registers: [registry] })
const clients = new Gauge({ name: 'ridepulse_board_clients', help: 'Pages connected to the live feed', registers: [registry] })
const cells = new Gauge({ name: 'ridepulse_board_cells', help: 'Zone-minutes held', registers: [registry] })

const state = new BoardState(cfg.HISTORY_WINDOWS)
// The state is a cache of orders.output: rebuilt from the topic on every start.
const follower = new OutputFollower(settingsFromEnv(cfg, 'ridepulse-board'), cfg.TOPIC_OUTPUT, cfg.SHARDS, state, log, () => skipped.inc())
const source = cfg.STATUS_SOURCE === 'kubernetes'
  ? kubernetesSource(resourceStatusReader(cfg.KUBE_RESOURCE as `${string}/${string}`, cfg.KUBECONFIG || undefined))
  : workersSource(cfg.WORKER_STATUS_URLS, Math.max(200, cfg.STATUS_POLL_MS - 50))
const poller: HealthPoller = new HealthPoller(source, cfg.STATUS_POLL_MS, (h) => server.shardsChanged(h), (message) => log.warn({ source: cfg.STATUS_SOURCE, message }, 'shard health unavailable'))
const server: BoardServer = new BoardServer({ state, shards: () => poller.list(), ready: () => follower.caughtUp >= cfg.SHARDS, registry, onClients: (n) => clients.set(n) })
const http = await server.listen(cfg.HTTP_PORT, cfg.HTTP_HOST, cfg.PUSH_EVERY_MS)
setInterval(() => cells.set(state.size), 1000).unref()
follower.start()
poller.start()
const address = http.address()
const port = typeof address === 'object' && address ? address.port : cfg.HTTP_PORT
log.info({ port, topic: cfg.TOPIC_OUTPUT, shards: cfg.SHARDS }, `board on http://127.0.0.1:${port}/`)

let stopping = false
const stop = async (signal: string) => {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'stopping')
  poller.stop()
  server.close()
  await follower.close()
  process.exit(0)
}
process.on('SIGTERM', () => void stop('SIGTERM'))
process.on('SIGINT', () => void stop('SIGINT'))
