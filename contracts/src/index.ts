/**
 * What the pipeline's programs agree on: its topics and their settings, the
 * records on them, the worker's environment and status, and the
 * StatefulOperator resource. Types, schemas and pure codecs only.
 */
export * from './codec.js'
export * from './dead-letter.js'
export * from './event.js'
export * from './kafka-env.js'
export * from './output.js'
export * from './partition.js'
export * from './pod-template.js'
export * from './resource.js'
export * from './resource-status.js'
export * from './topic-owners.js'
export * from './topics.js'
export * from './windows.js'
export * from './worker-env.js'
export * from './worker-status.js'
