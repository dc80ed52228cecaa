/**
 * What the tests, the benchmarks, the demo and the end-to-end run share: a
 * local Kafka and a local pipeline of real worker processes, traffic, the
 * verifier, followers of the output, the test hooks of a worker under test,
 * and the Kubernetes test harness.
 */
export * from './generator.js'
export * from './hooks.js'
export * from './kube.js'
export * from './lateness.js'
export * from './load.js'
export * from './local-kafka.js'
export * from './relay.js'
export * from './shard-history.js'
export * from './results-files.js'
export * from './object-store.js'
export * from './output.js'
export * from './pipeline.js'
export * from './read-topic.js'
export * from './teardown.js'
export * from './verdict.js'
export * from './verifier.js'
export * from './verify.js'
export * from './wait.js'
