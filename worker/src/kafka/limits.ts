/**
 * The transaction timeout, Kafka's default. A transaction left open longer
 * is aborted by the coordinator with a new epoch, which fences its process
 * for good; a broker restart takes longer than 15 s. Kept apart from the
 * client so that the configuration can name it without loading the client.
 */
export const TRANSACTION_TIMEOUT_MS = 60_000
