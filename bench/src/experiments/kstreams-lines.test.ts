import { describe, expect, it } from 'vitest'
import { currentTasks, failure, parsePeerLine, peerTotal, ratio, restoreSummary, runningAt, type PeerLine } from './kstreams-lines.js'

const lines = (...texts: string[]): PeerLine[] => texts.map(parsePeerLine).filter((l): l is PeerLine => l !== undefined)

describe('parsePeerLine', () => {
  it.each([
    ['{"event":"start","at":10,"jvmStartedAt":5}', { event: 'start', at: 10, jvmStartedAt: 5 }],
    ['{"event":"state","at":11,"from":"REBALANCING","to":"RUNNING"}', { event: 'state', at: 11, from: 'REBALANCING', to: 'RUNNING' }],
    ['{"event":"tasks","at":13,"active":["0_0"],"standby":[]}', { event: 'tasks', at: 13, active: ['0_0'], standby: [] }],
    ['  {"event":"restore-end","at":12,"store":"s","topic":"t","partition":0,"records":7,"ms":3}  ', { event: 'restore-end', at: 12, store: 's', topic: 't', partition: 0, records: 7, ms: 3 }],
  ])('reads %s', (text, expected) => {
    expect(parsePeerLine(text)).toEqual(expected)
  })

  it.each([
    ['a log line', 'SLF4J: Class path contains multiple bindings'],
    ['broken JSON', '{"event":"start",'],
    ['an array', '[1,2]'],
    ['an unknown event', '{"event":"hello","at":1}'],
    ['no time', '{"event":"state","from":"A","to":"B"}'],
    ['a field of the wrong type', '{"event":"restore-end","at":1,"store":"s","topic":"t","partition":"0","records":7,"ms":3}'],
    ['a task list of numbers', '{"event":"tasks","at":1,"active":[0],"standby":[]}'],
    ['a missing field', '{"event":"restore-start","at":1,"store":"s","topic":"t","partition":0,"startOffset":0}'],
  ])('ignores %s', (_what, text) => {
    expect(parsePeerLine(text)).toBeUndefined()
  })
})

describe('restoreSummary', () => {
  it('adds the records of every partition and spans the first start to the last end', () => {
    const l = lines(
      '{"event":"restore-start","at":100,"store":"s","topic":"t","partition":0,"startOffset":0,"endOffset":500}',
      '{"event":"restore-start","at":110,"store":"s","topic":"t","partition":1,"startOffset":0,"endOffset":300}',
      '{"event":"restore-end","at":400,"store":"s","topic":"t","partition":1,"records":300,"ms":290}',
      '{"event":"restore-end","at":700,"store":"s","topic":"t","partition":0,"records":500,"ms":600}',
    )
    expect(restoreSummary(l)).toEqual({ partitions: 2, records: 800, ms: 600, unfinished: 0 })
  })

  it('counts a restore cut short as unfinished, and nothing restored as zero', () => {
    expect(restoreSummary(lines('{"event":"restore-start","at":100,"store":"s","topic":"t","partition":0,"startOffset":0,"endOffset":9}'))).toEqual({ partitions: 0, records: 0, ms: 0, unfinished: 1 })
    expect(restoreSummary([])).toEqual({ partitions: 0, records: 0, ms: 0, unfinished: 0 })
  })
})

describe('currentTasks', () => {
  it('is the last report, and nothing before the first', () => {
    const l = lines(
      '{"event":"tasks","at":4,"active":[],"standby":["0_0"]}',
      '{"event":"state","at":5,"from":"RUNNING","to":"REBALANCING"}',
      '{"event":"tasks","at":9,"active":["0_0"],"standby":[]}',
    )
    expect(currentTasks(l)).toEqual({ active: ['0_0'], standby: [], at: 9 })
    expect(currentTasks(l.slice(0, 2))).toEqual({ active: [], standby: ['0_0'], at: 4 })
    expect(currentTasks([])).toEqual({ active: [], standby: [], at: 0 })
  })
})

describe('runningAt and failure', () => {
  it('finds the first RUNNING, not a later one', () => {
    const l = lines(
      '{"event":"state","at":1,"from":"CREATED","to":"REBALANCING"}',
      '{"event":"state","at":5,"from":"REBALANCING","to":"RUNNING"}',
      '{"event":"state","at":9,"from":"RUNNING","to":"RUNNING"}',
    )
    expect(runningAt(l)).toBe(5)
    expect(runningAt(l.slice(0, 1))).toBeUndefined()
  })

  it.each([
    [['{"event":"error","at":3,"message":"boom"}'], 'boom'],
    [['{"event":"state","at":3,"from":"PENDING_ERROR","to":"ERROR"}'], 'the Kafka Streams client went to ERROR'],
    [['{"event":"state","at":3,"from":"RUNNING","to":"PENDING_SHUTDOWN"}'], undefined],
  ])('reports %j as %s', (texts, expected) => {
    expect(failure(lines(...texts))).toBe(expected)
  })
})

describe('peerTotal', () => {
  it.each([
    ['{"requested":3,"matched":2,"completed":1,"cancelled":0}', 6],
    ['{"requested":3,"matched":2,"completed":1}', undefined],
    ['{"requested":"3","matched":2,"completed":1,"cancelled":0}', undefined],
    ['not json', undefined],
  ])('%s sums to %s', (value, expected) => {
    expect(peerTotal(value)).toBe(expected)
  })
})

describe('ratio', () => {
  it.each([
    [500, 5000, 0.1],
    [30_000, 20_000, 1.5],
    [1, 3, 0.333],
    [1, 0, undefined],
    [undefined, 3, undefined],
    [3, Number.NaN, undefined],
  ])('%s / %s is %s', (ours, theirs, expected) => {
    expect(ratio(ours, theirs)).toBe(expected)
  })
})
