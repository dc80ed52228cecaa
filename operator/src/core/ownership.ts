import type { TopicOwner, TopicRole } from '@ridepulse/contracts'

export interface OwnershipPlan {
  /** Topics nobody owns, or that a previous resource of the same namespace and name owned: to be claimed. */
  claim: string[]
  /** Claimed before by a resource of the same namespace and name but another uid (deleted and created again). */
  adopted: { topic: string; previous: TopicOwner }[]
  /** Topics another resource owns: the pipeline must not write to them. */
  conflicts: { topic: string; role: TopicRole; owner: TopicOwner }[]
}

/**
 * Who may write each of a pipeline's written topics, given what the
 * cluster's owner records say. A topic is the resource's when the records
 * name its uid; free or left by a resource of the same namespace and name
 * (the same pipeline, created again) it is claimed; anyone else's is a
 * conflict. Claims are decided by reading the records back after writing
 * them: of two resources that claim one topic at once, the later record wins
 * and the other sees a conflict.
 */
export function planOwnership(written: readonly { role: TopicRole; name: string }[], owners: ReadonlyMap<string, TopicOwner>, me: TopicOwner): OwnershipPlan {
  const plan: OwnershipPlan = { claim: [], adopted: [], conflicts: [] }
  for (const t of written) {
    const o = owners.get(t.name)
    if (o?.uid === me.uid) continue
    if (!o) plan.claim.push(t.name)
    else if (o.namespace === me.namespace && o.name === me.name) {
      plan.claim.push(t.name)
      plan.adopted.push({ topic: t.name, previous: o })
    } else plan.conflicts.push({ topic: t.name, role: t.role, owner: o })
  }
  return plan
}
