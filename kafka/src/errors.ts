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

/** Why a connection to the brokers failed, in words a person can act on. */
export interface ConnectionProblem {
  /** One word, fit for a condition's reason: TlsCertificateNotTrusted, SaslAuthenticationFailed, … */
  reason: string
  message: string
}

const UNTRUSTED = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED'])
const OUT_OF_DATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID'])
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'PLT_KFK_TIMEOUT'])

/**
 * The first cause a person can act on inside a failed call to the brokers:
 * a certificate the CA does not vouch for, a host name the certificate does
 * not carry, refused SASL credentials, TLS on one side only, a broker that
 * closes the connection right after the TLS handshake (it wants a client
 * certificate it did not get or does not trust), or no broker reachable at
 * all. Undefined for every other failure. `withTls`: whether the client
 * spoke TLS, which tells the last two apart.
 */
export function connectionProblem(err: unknown, withTls: boolean): ConnectionProblem | undefined {
  const found = errorsIn(err).filter((e): e is Error => e instanceof Error)
  const code = (e: Error) => String((e as { code?: unknown }).code ?? '')
  const first = (test: (e: Error) => boolean) => found.find(test)
  let e: Error | undefined
  if ((e = first((x) => UNTRUSTED.has(code(x))))) {
    return { reason: 'TlsCertificateNotTrusted', message: `the broker's TLS certificate is not signed by an authority the client trusts (${code(e)}: ${e.message}); check the CA certificate given to the client` }
  }
  if ((e = first((x) => code(x) === 'ERR_TLS_CERT_ALTNAME_INVALID'))) {
    return { reason: 'TlsHostnameMismatch', message: `the broker's TLS certificate does not name the host connected to (${e.message}); connect by a name the certificate carries` }
  }
  if ((e = first((x) => OUT_OF_DATE.has(code(x))))) {
    return { reason: 'TlsCertificateOutOfDate', message: `the broker's TLS certificate is not valid now (${code(e)}: ${e.message})` }
  }
  if (first((x) => code(x) === 'PLT_KFK_AUTHENTICATION')) {
    return { reason: 'SaslAuthenticationFailed', message: 'the broker refused the SASL credentials: check the user name, the password and the mechanism' }
  }
  if (first((x) => code(x) === 'PLT_KFK_USER' && /requires TLS/i.test(x.message))) {
    return { reason: 'TlsRequired', message: 'the broker speaks TLS on this listener and the client does not: give the client TLS settings, or connect to a plaintext listener' }
  }
  if (first((x) => /TLS handshake failed|before secure TLS connection/i.test(x.message))) {
    return { reason: 'TlsHandshakeFailed', message: 'the TLS handshake failed: the listener may not speak TLS (a plaintext listener), or it refused the client certificate' }
  }
  const leaves = found.filter((x) => !Array.isArray((x as { errors?: unknown }).errors) && !(x as { cause?: unknown }).cause)
  if (withTls && leaves.length > 0 && leaves.every((x) => /connection closed/i.test(x.message))) {
    return { reason: 'TlsClientCertificateRefused', message: 'the broker closed every connection right after the TLS handshake: it requires a client certificate (mutual TLS) that was not given or that its CA does not trust' }
  }
  if ((e = first((x) => UNREACHABLE.has(code(x)) || UNREACHABLE.has(String((x as { errno?: unknown }).errno ?? ''))))) {
    return { reason: 'BrokerUnreachable', message: `no broker answered: ${e.message}` }
  }
  return undefined
}

/**
 * A failed call to the brokers whose cause a person can act on: its message
 * is that cause, `reason` names it in one word, and the client's error stays
 * as `cause`.
 */
export class KafkaConnectionError extends Error {
  readonly reason: string
  constructor(problem: ConnectionProblem, options?: { cause?: unknown }) {
    super(problem.message, options)
    this.name = 'KafkaConnectionError'
    this.reason = problem.reason
  }
}

/** The error itself, or a KafkaConnectionError around it when `connectionProblem` finds its cause. */
export function explainConnectionFailure(err: unknown, withTls: boolean): unknown {
  if (err instanceof KafkaConnectionError) return err
  const problem = connectionProblem(err, withTls)
  return problem ? new KafkaConnectionError(problem, { cause: err }) : err
}
