import { execFileSync } from 'node:child_process'
import type { Experiment } from '../results.js'

/** Kafka's own tools, from the same jars as the broker. */
function kafkaTools(kafkaScript: string): (cls: string, args: string[]) => string {
  const cp = execFileSync('bash', [kafkaScript, 'classpath'], { encoding: 'utf8' }).trim()
  return (cls, args) => execFileSync('java', ['-cp', cp, '-Dlog4j.configuration=file:/dev/null', cls, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function createTopic(java: ReturnType<typeof kafkaTools>, brokers: string, partitions: number): string {
  const topic = `ceiling-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`
  java('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', brokers, '--create', '--topic', topic, '--partitions', String(partitions), '--replication-factor', '1'])
  return topic
}

/** Records per second ProducerPerformance writes, as fast as it goes, into `topic`. */
function producerRate(java: ReturnType<typeof kafkaTools>, brokers: string, topic: string, records: number, recordSize: number, props: readonly string[]): number {
  const out = java('org.apache.kafka.tools.ProducerPerformance', ['--topic', topic, '--num-records', String(records), '--record-size', String(recordSize), '--throughput', '-1', '--producer-props', `bootstrap.servers=${brokers}`, ...props])
  const line = out.trim().split('\n').filter((l) => l.includes('records sent')).at(-1) ?? ''
  const rate = Number(/([\d.]+) records\/sec/.exec(line)?.[1] ?? NaN)
  if (!Number.isFinite(rate)) throw new Error(`ProducerPerformance printed no rate: ${out.slice(-500)}`)
  return Math.round(rate)
}

export const IDEMPOTENT_ACKS_ALL = ['acks=all', 'enable.idempotence=true'] as const

/**
 * The cheapest thing a pipeline on this broker could do, for the benchmarks
 * that compare against it in the same run: one idempotent acks=all producer
 * writing `records` records of `recordSize` bytes into a fresh topic of
 * `partitions` partitions.
 */
export function producerCeiling(o: { kafkaScript: string; brokers: string; records: number; recordSize: number; partitions: number }): number {
  const java = kafkaTools(o.kafkaScript)
  return producerRate(java, o.brokers, createTopic(java, o.brokers, o.partitions), o.records, o.recordSize, IDEMPOTENT_ACKS_ALL)
}

/**
 * The broker's own ceiling here: Kafka's producer and consumer performance
 * tools (from the same jars as the broker), records the size of our events,
 * so our throughput reads as a fraction of what the machine allows.
 */
export function brokerCeiling(o: { kafkaScript: string; brokers: string; records: number; recordSize: number }): Experiment {
  const java = kafkaTools(o.kafkaScript)
  const topic = createTopic(java, o.brokers, 3)
  const figures = []
  for (const [label, props] of [['acks=all, idempotent', IDEMPOTENT_ACKS_ALL], ['acks=1', ['acks=1']]] as const) {
    const rate = producerRate(java, o.brokers, topic, o.records, o.recordSize, props)
    figures.push({ key: `ceiling.produce.${props[0]}`, label: `producer, ${label}`, unit: 'records/s', value: rate, params: { records: o.records, recordSize: o.recordSize } })
  }
  const cons = java('org.apache.kafka.tools.ConsumerPerformance', ['--bootstrap-server', o.brokers, '--topic', topic, '--messages', String(o.records * 2), '--timeout', '60000'])
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
  const row = cons.trim().split('\n').at(-1)?.split(',').map((x) => x.trim()) ?? []
  figures.push({ key: 'ceiling.consume', label: 'consumer', unit: 'records/s', value: Math.round(Number(row[5])), params: { records: o.records * 2, recordSize: o.recordSize } })
  return {
    title: 'The broker\'s ceiling on this machine',
    method: `Kafka's ProducerPerformance and ConsumerPerformance tools against the same broker, ${o.records.toLocaleString('en')} records of ${o.recordSize} bytes into 3 partitions, as fast as they go.`,
    figures,
  }
}
