import type { Experiment } from '../../results.js'
import { standbyCost } from './cost.js'
import { theirsFailover } from './kstreams.js'
import { oursFailover } from './ours.js'
import { standbyAtSizes } from './sizes.js'

export interface StandbyOptions {
  root: string
  brokers: string
  /** Kills of OpB's owner, and of its process alone. */
  kills: number
  /** Kills of the Kafka Streams instance running the task. */
  theirKills: number
  rate: number
  /** Enriched events each cost round drains. */
  backlog: number
  costRounds: number
  /** State sizes (live keys) at which the owner is killed `kills` times more, the same way. */
  sizes: number[]
  httpBase: number
}

/**
 * Standby failover side by side, in one run on one broker: OpB's local
 * recovery and its standby takeover, Kafka Streams' standby replica, and
 * what a standby costs the shard it follows.
 */
export async function standbyFailover(o: StandbyOptions): Promise<Experiment> {
  const ours = await oursFailover({ brokers: o.brokers, kills: o.kills, rate: o.rate, httpBase: o.httpBase })
  // Kafka Streams' group minimum session timeout by default (group.min.session.timeout.ms): the fastest it can notice a dead member.
  const theirs = await theirsFailover({ root: o.root, brokers: o.brokers, kills: o.theirKills, rate: o.rate, sessionTimeoutMs: 6000 })
  const sizes = await standbyAtSizes({ brokers: o.brokers, sizes: o.sizes, kills: o.kills, rate: o.rate, httpBase: o.httpBase + 400 })
  const cost = await standbyCost({ brokers: o.brokers, backlog: o.backlog, rounds: o.costRounds, httpBase: o.httpBase + 300 })
  return {
    title: 'Standby failover: local recovery, OpB\'s standby and Kafka Streams\' standby, side by side',
    method: [ours.method, theirs.method, sizes.method, cost.method].join(' '),
    figures: [...ours.figures, ...theirs.figures, ...sizes.figures, ...cost.figures],
  }
}
