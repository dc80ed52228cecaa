import { describe, expect, it } from 'vitest'
import { areaOf, formatProfile, summarizeProfile, type CpuProfile } from './profile.js'

const frame = (functionName: string, url = '', lineNumber = -1) => ({ functionName, url, lineNumber, columnNumber: 0 })

describe('summarizeProfile', () => {
  // 10 samples 1 ms apart: 4 idle, 3 in the Kafka client, 2 in GC, 1 in JSON.parse.
  const p: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('readRecords', 'file:///app/node_modules/@platformatic/kafka/dist/protocol/records.js', 40) },
      { id: 4, callFrame: frame('(garbage collector)') },
      { id: 5, callFrame: frame('parse') },
    ],
    startTime: 0,
    endTime: 10_000,
    samples: [2, 2, 3, 3, 3, 4, 4, 5, 2, 2, 2],
    timeDeltas: [0, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
  }

  it('charges each sample its time, leaves idle out of the busy time, and groups by area', () => {
    const s = summarizeProfile(p)
    expect(s).toMatchObject({ wallMs: 10, busyMs: 6 })
    expect(s.areas).toEqual([
      { area: 'Kafka client', ms: 3, share: 50 },
      { area: 'garbage collector', ms: 2, share: 33.3 },
      { area: 'JSON', ms: 1, share: 16.7 },
    ])
    expect(s.functions[0]).toEqual({ fn: 'readRecords (@platformatic/kafka/dist/protocol/records.js:41)', area: 'Kafka client', ms: 3, share: 50 })
    expect(formatProfile('opa-0', s)).toMatch(/\| Kafka client \| 3 \| 50% \|/)
  })
})

describe('areaOf', () => {
  it.each([
    ['../../node_modules/zod/v4/core/schemas.js', 'f', 'zod'],
    ['../../node_modules/lmdb/read.js', 'f', 'lmdb'],
    ['file:///app/worker/src/opb/opb.ts', 'f', '@ridepulse/worker'],
    ['file:///app/bench/dist/run.js', 'f', 'other'],
    ['../../contracts/src/event.ts', 'parseRawEvent', '@ridepulse/contracts'],
    ['../../kafka/src/producer.ts', 'send', '@ridepulse/kafka'],
    ['node:internal/streams/readable', 'push', 'Node'],
    ['', '(program)', 'V8 and native'],
  ])('%s is %s', (source, fn, area) => expect(areaOf(source, fn)).toBe(area))
})
