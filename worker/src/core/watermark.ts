export interface WatermarkConfig {
  /** How far behind the highest event time an event may still arrive in order. */
  outOfOrdernessMs: number
  /** After this long without events the watermark follows the wall clock. */
  idleTimeoutMs: number
}

export interface WatermarkState {
  /** Highest event time seen; -Infinity before the first event. */
  maxEventTs: number
  /** Wall-clock time of the last event seen. */
  lastEventAtMs: number
  watermark: number
}

/**
 * The watermark never goes back. From events it is the highest event time
 * minus the out-of-orderness. A partition that has gone quiet (no event for
 * the idle timeout) would hold every window open forever, so then the
 * watermark moves with the wall clock instead, as if an event stamped
 * `now - idleTimeout` had arrived: with producers stamping events near wall
 * time this only closes windows nobody is still writing to. Only a partition
 * read to its end is idle: a shard working through a backlog (after a
 * restart, say) is not, or it would declare the backlog late.
 */
export function advance(s: WatermarkState, cfg: WatermarkConfig, nowMs: number, caughtUp: boolean): WatermarkState {
  let wm = Math.max(s.watermark, s.maxEventTs - cfg.outOfOrdernessMs)
  if (caughtUp && nowMs - s.lastEventAtMs >= cfg.idleTimeoutMs) {
    wm = Math.max(wm, nowMs - cfg.idleTimeoutMs - cfg.outOfOrdernessMs)
  }
  return wm === s.watermark ? s : { ...s, watermark: wm }
}
