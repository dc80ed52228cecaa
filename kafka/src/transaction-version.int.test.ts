import { Admin, apiVersionsV3, describeTransactionsV0, findCoordinatorV6, FindCoordinatorKeyTypes, initProducerIdV5, type Connection } from '@platformatic/kafka'
import { setTimeout as sleep } from 'node:timers/promises'
import { beforeAll, describe, expect, inject, it } from 'vitest'
import { protocolErrorIds } from './errors.js'
import { ensureTopics, ProducerFencedError, TxnProducer } from './index.js'

const brokers = [inject('kafkaBrokers')]
const settings = { brokers, clientId: 'transaction-version-test' }
const topic = `txn-version-${Date.now().toString(36)}`
let n = 0
const txId = () => `${topic}-${++n}`
const rec = (value: string) => ({ topic, partition: 0, key: value, value: Buffer.from(value) })

/** Runs `fn` on a connection to the broker that answers for `key` (a transactional id), or to any broker without one. */
async function atBroker<T>(key: string | null, fn: (c: Connection) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: 'transaction-version-admin', bootstrapBrokers: brokers, retries: 3, retryDelay: 200 })
  try {
    const md = await admin.metadata({ topics: [], forceUpdate: true })
    const bootstrap = md.brokers.values().next().value!
    if (key === null) return await fn(await admin.connections.get(bootstrap))
    const found = await findCoordinatorV6.api.async(await admin.connections.get(bootstrap), FindCoordinatorKeyTypes.TRANSACTION, [key])
    const c = found.coordinators.find((x) => x.key === key)!
    return await fn(await admin.connections.get(md.brokers.get(c.nodeId) ?? { host: c.host, port: c.port }))
  } finally {
    await admin.close()
  }
}

async function describeTransaction(id: string) {
  const res = await atBroker(id, (c) => describeTransactionsV0.api.async(c, [id]))
  return res.transactionStates[0]!
}

/**
 * Kafka 4 brokers run transaction version 2 (KIP-890 part 2): the coordinator
 * bumps the producer epoch at every EndTxn of version 5 or later, and ends a
 * transaction it aborts itself with a "last epoch" that an InitProducerId may
 * resume from. Kafka 3.9 does neither. These tests run on both (scripts/test.sh
 * runs this file on Kafka 3.9 as well) and pin down what our producer relies on.
 */
describe('the transaction coordinator, on Kafka 3.9 and Kafka 4', () => {
  /** The broker's finalized transaction.version, and the newest EndTxn it accepts. */
  let tv = 0
  let endTxnMax = 0

  beforeAll(async () => {
    await ensureTopics(settings, [{ name: topic, partitions: 1 }])
    const versions = await atBroker(null, (c) => apiVersionsV3.api.async(c, 'ridepulse-test', '1'))
    tv = versions.finalizedFeatures?.find((f) => f.name === 'transaction.version')?.maxVersionLevel ?? 0
    endTxnMax = versions.apiKeys.find((k) => k.apiKey === 26)?.maxVersion ?? 0
    process.stdout.write(`broker: EndTxn up to v${endTxnMax}, transaction.version ${tv}\n`)
  })

  it('a Kafka 4 broker runs transaction version 2, a Kafka 3.9 broker has none', () => {
    // EndTxn v5 came with Kafka 4.0: the broker line is known from what it accepts.
    if (endTxnMax >= 5) expect(tv).toBe(2)
    else expect(tv).toBe(0)
  })

  it('our producer keeps one epoch across its commits: it ends transactions with EndTxn v4, which no transaction version bumps', async () => {
    const p = new TxnProducer(settings, txId())
    try {
      await p.fence()
      const epoch = p.epoch
      for (let i = 0; i < 3; i++) {
        await p.begin()
        await p.send([rec(`commit-${i}`)])
        await p.commit()
      }
      // EndTxn is answered once PrepareCommit is in the coordinator's log; it
      // writes the markers and CompleteCommit after that, so a busy broker can
      // still be in PrepareCommit here.
      const seen: string[] = []
      let state = await describeTransaction(p.transactionalId)
      for (const deadline = Date.now() + 10_000; state.transactionState === 'PrepareCommit' && Date.now() < deadline; ) {
        seen.push(state.transactionState)
        await sleep(50)
        state = await describeTransaction(p.transactionalId)
      }
      expect(state.transactionState, `states seen after the last commit: ${[...seen, state.transactionState].join(' → ')}`).toBe('CompleteCommit')
      expect(state.producerEpoch).toBe(epoch)
      expect(p.epoch).toBe(epoch)
    } finally {
      await p.close()
    }
  })

  it('a transaction the coordinator aborted on its timeout leaves its producer fenced, whatever the version; a raw resume with the old epoch is where they differ', async () => {
    const p = new TxnProducer(settings, txId(), 1500)
    try {
      await p.fence()
      const producerId = (await describeTransaction(p.transactionalId)).producerId
      const epoch = p.epoch!
      await p.begin()
      await p.send([rec('timed-out')])
      // The coordinator looks for timed-out transactions every 10 s (its default).
      let state = await describeTransaction(p.transactionalId)
      for (const deadline = Date.now() + 60_000; state.transactionState !== 'CompleteAbort' && Date.now() < deadline; ) {
        await sleep(500)
        state = await describeTransaction(p.transactionalId)
      }
      expect(state.transactionState).toBe('CompleteAbort')
      expect(state.producerEpoch).toBe(epoch + 1)
      // Our resume probes with EndTxn v4 first, which every version refuses for the old epoch.
      await expect(p.fence()).rejects.toThrow(ProducerFencedError)
      // An InitProducerId with the old epoch: version 2 takes it as a retry of the
      // epoch it aborted and answers with the current one; older versions refuse it.
      const resumed = await atBroker(p.transactionalId, (c) => initProducerIdV5.api.async(c, p.transactionalId, 1500, producerId, epoch)).then(
        (r) => ({ epoch: r.producerEpoch, error: undefined }),
        (err: unknown) => ({ epoch: undefined, error: protocolErrorIds(err).join(',') }),
      )
      process.stdout.write(`after the coordinator's abort (epoch ${epoch} → ${state.producerEpoch}), InitProducerId with epoch ${epoch}: ${JSON.stringify(resumed)}\n`)
      if (tv >= 2) expect(resumed).toEqual({ epoch: epoch + 1, error: undefined })
      else expect(resumed).toEqual({ epoch: undefined, error: 'PRODUCER_FENCED' })
    } finally {
      await p.close()
    }
  })
})
