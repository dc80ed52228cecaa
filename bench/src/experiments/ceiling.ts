import { execFileSync } from 'node:child_process'
import type { Experiment } from '../results.js'

/**
 * The broker's own ceiling here: Kafka's producer and consumer performance
 * tools (from the same jars as the broker), records the size of our events,
 * so our throughput reads as a fraction of what the machine allows.
 */
export function brokerCeiling(o: { kafkaScript: string; brokers: string; records: number; recordSize: number }): Experiment {
  const cp = execFileSync('bash', [o.kafkaScript, 'classpath'], { encoding: 'utf8' }).trim()
  const java = (cls: string, args: string[]) => execFileSync('java', ['-cp', cp, '-Dlog4j.configuration=file:/dev/null', cls, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const topic = `ceiling-${Date.now().toString(36)}`
  java('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', o.brokers, '--create', '--topic', topic, '--partitions', '3', '--replication-factor', '1'])
  const figures = []
  for (const [label, props] of [['acks=all, idempotent', ['acks=all', 'enable.idempotence=true']], ['acks=1', ['acks=1']]] as const) {
    const out = java('org.apache.kafka.tools.ProducerPerformance', ['--topic', topic, '--num-records', String(o.records), '--record-size', String(o.recordSize), '--throughput', '-1', '--producer-props', `bootstrap.servers=${o.brokers}`, ...props])
    const line = out.trim().split('\n').filter((l) => l.includes('records sent')).at(-1) ?? ''
    const rate = Number(/([\d.]+) records\/sec/.exec(line)?.[1] ?? NaN)
    figures.push({ key: `ceiling.produce.${props[0]}`, label: `producer, ${label}`, unit: 'records/s', value: Math.round(rate), params: { records: o.records, recordSize: o.recordSize } })
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
