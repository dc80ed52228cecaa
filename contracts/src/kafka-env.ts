import { z } from 'zod'

/**
 * How a program reaches the brokers, from its environment: the same
 * variables for the workers (which the operator renders into their pods) and
 * the board. `KAFKA_SECURITY_PROTOCOL` takes Kafka's own values
 * (`security.protocol`); the TLS files are PEM, mounted from Secrets under
 * the operator.
 */

export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number]
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const

export const brokerList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^[^:]+:\d+$/, 'each broker must be host:port')).min(1))

export const kafkaConnectionEnv = {
  KAFKA_BROKERS: brokerList.default(['127.0.0.1:9092']),
  KAFKA_SECURITY_PROTOCOL: z.enum(SECURITY_PROTOCOLS).default('PLAINTEXT'),
  /** With SASL_PLAINTEXT or SASL_SSL: all three. */
  KAFKA_SASL_MECHANISM: z.enum(SASL_MECHANISMS).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /** With SSL or SASL_SSL: the authority the brokers' certificates are checked against; without it, the runtime's own. */
  KAFKA_TLS_CA_FILE: z.string().min(1).optional(),
  /** With SSL or SASL_SSL: the client's certificate and its key, for brokers that require mutual TLS; both or neither. */
  KAFKA_TLS_CERT_FILE: z.string().min(1).optional(),
  KAFKA_TLS_KEY_FILE: z.string().min(1).optional(),
}

export type KafkaConnectionVars = z.infer<z.ZodObject<typeof kafkaConnectionEnv>>

export const usesTls = (p: SecurityProtocol): boolean => p === 'SSL' || p === 'SASL_SSL'
export const usesSasl = (p: SecurityProtocol): boolean => p === 'SASL_PLAINTEXT' || p === 'SASL_SSL'

/** The rules across the connection variables, each issue on the variable to change. */
export function kafkaConnectionRules(c: KafkaConnectionVars, ctx: z.RefinementCtx): void {
  const p = c.KAFKA_SECURITY_PROTOCOL
  const sasl = ['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const
  for (const k of sasl) {
    if (usesSasl(p) && c[k] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: `is required with KAFKA_SECURITY_PROTOCOL=${p}` })
    if (!usesSasl(p) && c[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `is only read with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL (it is ${p})` })
  }
  for (const k of ['KAFKA_TLS_CA_FILE', 'KAFKA_TLS_CERT_FILE', 'KAFKA_TLS_KEY_FILE'] as const) {
    if (!usesTls(p) && c[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `is only read with KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL (it is ${p})` })
  }
  if ((c.KAFKA_TLS_CERT_FILE === undefined) !== (c.KAFKA_TLS_KEY_FILE === undefined)) {
    const missing = c.KAFKA_TLS_CERT_FILE === undefined ? 'KAFKA_TLS_CERT_FILE' : 'KAFKA_TLS_KEY_FILE'
    ctx.addIssue({ code: 'custom', path: [missing], message: 'is required with the other half of the client certificate (KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together)' })
  }
}
