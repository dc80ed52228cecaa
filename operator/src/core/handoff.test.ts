import type { V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { LABEL_COMPONENT, LABEL_INSTANCE, LABEL_SHARD, LABEL_SLOT } from './builders.js'
import { ownerGoneRequest } from './handoff.js'

const pod = (name: string, o: { shard?: string; slot?: string; instance?: string; ip?: string; phase?: string; deleting?: boolean; component?: string; ns?: string } = {}): V1Pod => ({
  metadata: {
    name,
    namespace: o.ns ?? 'ns',
    labels: { [LABEL_COMPONENT]: o.component ?? 'opb', [LABEL_INSTANCE]: o.instance ?? 'rides', [LABEL_SHARD]: o.shard ?? '0', ...(o.slot !== undefined ? { [LABEL_SLOT]: o.slot } : {}) },
    ...(o.deleting ? { deletionTimestamp: new Date() } : {}),
  },
  status: { phase: o.phase ?? 'Running', ...(o.ip ? { podIP: o.ip } : {}) },
})

describe('ownerGoneRequest', () => {
  const owner = pod('rides-opb-0', { slot: '0', ip: '10.0.0.5' })
  const standby = pod('rides-opb-0-b', { slot: '1', ip: '10.0.0.6' })

  it('tells the other slot of the same shard, naming the deleted pod\'s address', () => {
    const others = [pod('rides-opb-1-b', { shard: '1', slot: '1', ip: '10.0.0.7' }), pod('other-opb-0-b', { instance: 'other', slot: '1', ip: '10.0.0.8' }), pod('rides-opb-0-b', { slot: '1', ip: '10.0.0.9', ns: 'elsewhere' }), standby]
    expect(ownerGoneRequest(owner, others)).toEqual({ url: 'http://10.0.0.6:8080/standby/owner-gone?host=10.0.0.5', partner: 'rides-opb-0-b', host: '10.0.0.5' })
    expect(ownerGoneRequest(pod('rides-opb-0', { slot: '0', ip: 'fd00::5' }), [pod('rides-opb-0-b', { slot: '1', ip: 'fd00::6' })])?.url).toBe('http://[fd00::6]:8080/standby/owner-gone?host=fd00%3A%3A5')
  })

  it('tells nobody without a pair, an address, or a partner that runs', () => {
    expect(ownerGoneRequest(pod('rides-opb-0', { ip: '10.0.0.5' }), [standby])).toBeUndefined() // no slot: no standbys
    expect(ownerGoneRequest(pod('rides-opb-0', { slot: '0' }), [standby])).toBeUndefined() // never had an address
    expect(ownerGoneRequest(pod('rides-opa-0', { slot: '0', ip: '10.0.0.5', component: 'opa' }), [standby])).toBeUndefined()
    expect(ownerGoneRequest(owner, [pod('rides-opb-0-b', { slot: '1', ip: '10.0.0.6', deleting: true })])).toBeUndefined()
    expect(ownerGoneRequest(owner, [pod('rides-opb-0-b', { slot: '1', ip: '10.0.0.6', phase: 'Pending' })])).toBeUndefined()
    expect(ownerGoneRequest(owner, [pod('rides-opb-0', { slot: '0', ip: '10.0.0.10' })])).toBeUndefined() // its own replacement
  })
})
