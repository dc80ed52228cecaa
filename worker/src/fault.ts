export type FaultPoint = 'before-commit' | 'during-commit' | 'after-commit'

/**
 * A deterministic crash for tests: kill -9 of this very process at the n-th
 * commit, at one point of it. `before-commit`: the batch is applied in memory,
 * nothing sent. `during-commit`: records sent in the open transaction, no
 * commit. `after-commit`: committed in Kafka, the local store not yet written.
 */
export function faultInjector(spec: string | undefined): (point: FaultPoint, commitNo: number) => void {
  if (!spec) return () => {}
  const [point, n] = spec.split(':')
  const at = Number(n)
  return (p, commitNo) => {
    if (p === point && commitNo === at) process.kill(process.pid, 'SIGKILL')
  }
}
