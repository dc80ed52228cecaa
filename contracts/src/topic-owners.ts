import { z } from 'zod'
import { encodeJson, parseJson } from './codec.js'

/**
 * One compacted topic per Kafka cluster that says which resource owns each
 * topic a pipeline writes: the key is the topic's name, the value the owner,
 * a tombstone a released topic. Every operator that uses the cluster reads
 * it before it lets a pipeline write, so two resources never write to one
 * topic, however their specs name them.
 */
export const TOPIC_OWNERS_TOPIC = 'ridepulse.topic-owners'

const ownerSchema = z.object({ uid: z.string().min(1), namespace: z.string().min(1), name: z.string().min(1) })
export type TopicOwner = z.infer<typeof ownerSchema>

export const encodeTopicOwner = (o: TopicOwner): Buffer => encodeJson({ uid: o.uid, namespace: o.namespace, name: o.name })
/** Throws CorruptRecordError for a value that names no owner. */
export const decodeTopicOwner = (value: Buffer): TopicOwner => parseJson(ownerSchema, value, 'topic owner')
export const ownerText = (o: TopicOwner): string => `${o.namespace}/${o.name} (uid ${o.uid})`
