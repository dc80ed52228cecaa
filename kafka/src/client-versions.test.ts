import * as client from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'

/**
 * The client negotiates the newest version of each request that it and the
 * broker both know. Three newer versions would change what the transactional
 * adapter relies on (docs/kafka-client.md, "Kafka 4"): EndTxn v5 gives the
 * producer a new epoch at every commit, Produce v12 and TxnOffsetCommit v5
 * add partitions to the transaction implicitly. This fails when a client
 * upgrade starts to offer them, before a broker test would.
 */
describe('the request versions the Kafka client can send', () => {
  const offered = (prefix: string) =>
    Object.keys(client)
      .filter((k) => k.startsWith(prefix) && /V\d+$/.test(k))
      .map((k) => Number(/V(\d+)$/.exec(k)![1]))
      .sort((a, b) => a - b)

  it('end a transaction with EndTxn v4 at the newest', () => {
    expect(offered('endTxnV').at(-1)).toBe(4)
  })

  it('produce with v11 and commit offsets in a transaction with TxnOffsetCommit v4 at the newest', () => {
    expect(offered('produceV').at(-1)).toBe(11)
    expect(offered('txnOffsetCommitV').at(-1)).toBe(4)
  })
})
