export class ProducerFencedError extends Error {
  constructor(transactionalId: string, options?: { cause?: unknown }) {
    super(`producer ${transactionalId} was fenced: a newer process took the transactional id over, or the coordinator aborted a transaction left open past the transaction timeout`, options)
    this.name = 'ProducerFencedError'
  }
}

export class TopicMissingError extends Error {
  constructor(topic: string) {
    super(`topic ${topic} does not exist`)
    this.name = 'TopicMissingError'
  }
}

/** An error and those inside it (the client's `errors` lists and `cause` chains), a few levels deep. */
export function errorsIn(err: unknown): object[] {
  const found: object[] = []
  const walk = (e: unknown, depth: number): void => {
    if (!e || typeof e !== 'object' || depth > 4) return
    found.push(e)
    const inner = (e as { errors?: unknown[] }).errors
    if (Array.isArray(inner)) for (const i of inner) walk(i, depth + 1)
    walk((e as { cause?: unknown }).cause, depth + 1)
  }
  walk(err, 0)
  return found
}

/** The messages of an error and those inside it, each with its protocol error name when it has one. */
export const errorText = (err: unknown): string =>
  errorsIn(err)
    .flatMap((e) => {
      if (!(e instanceof Error)) return []
      const id = (e as { apiId?: unknown }).apiId
      return [typeof id === 'string' ? `${e.message} [${id}]` : e.message]
    })
    .join(' | ')

export const isFencingError = (err: unknown): boolean =>
  /newer producer with the same transactionalId|old epoch|PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/i.test(errorText(err))

export const isStaleMetadata = (err: unknown): boolean =>
  /NOT_LEADER|leader|UNKNOWN_TOPIC_ID|FENCED_LEADER_EPOCH|UNKNOWN_LEADER_EPOCH|ECONNREFUSED|ECONNRESET|closed|Network/i.test(errorText(err))

export const describeError = errorText

/** The protocol error names (PRODUCER_FENCED, …) anywhere in an error from the client. */
export const protocolErrorIds = (err: unknown): string[] => errorsIn(err).flatMap((e) => {
  const id = (e as { apiId?: unknown }).apiId
  return typeof id === 'string' ? [id] : []
})

/** The broker refused a record or a batch as larger than the topic allows. */
export const isRecordTooLarge = (err: unknown): boolean => protocolErrorIds(err).some((id) => id === 'MESSAGE_TOO_LARGE' || id === 'RECORD_LIST_TOO_LARGE')
