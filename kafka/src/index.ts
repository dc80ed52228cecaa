/**
 * The pipeline's one adapter of the Kafka client: settings and errors, the
 * partition reader (raw read_committed fetches, no consumer group), the
 * transactional producer with its fencing protocol, and topic admin.
 */
export * from './admin.js'
export * from './at-least-once.js'
export { chunkBySize } from './chunks.js'
export * from './errors.js'
export * from './follower.js'
export * from './groups.js'
export * from './outgoing.js'
export * from './partition-reader.js'
export * from './plain.js'
export { decodeRecordBatches, type RecordHeader } from './record-batches.js'
export { securityProtocol, settingsFromEnv, tlsFromFiles, type KafkaSettings } from './settings.js'
export * from './transactional.js'
