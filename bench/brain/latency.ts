/** The p-quantile of ascending `sorted` (the value at rank ⌊p·n⌋), NaN when empty. */
export const quantile = (sorted: readonly number[], p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN);

/**
 * Acks per second of intended send time: a p99 over a whole window can come from a few stalls
 * (a 100 ms pause every few seconds) or from every second being slow; the count of seconds whose
 * own p99 is over the goal tells the two apart. (PostgreSQL's WAL segment zero-fill on a new
 * cluster showed as one slow second in every three or four: bench/brain/wal.ts.)
 */
export interface AckSeconds {
  /** Seconds of the window that had at least one measured ack. */
  seconds: number;
  /** Of those, the seconds whose p99 ack was at or over the threshold. */
  slow: number;
  /** The highest p99 of any one second. */
  worstP99: number;
}

/** `acks`: [intended send time, ack latency] in ms, for measured messages (an unacked one with its wait so far). */
export function ackSeconds(acks: readonly (readonly [number, number])[], from: number, thresholdMs: number): AckSeconds {
  const bySecond = new Map<number, number[]>();
  for (const [intended, latency] of acks) {
    const s = Math.floor((intended - from) / 1000);
    let b = bySecond.get(s);
    if (!b) bySecond.set(s, (b = []));
    b.push(latency);
  }
  let slow = 0;
  let worstP99 = NaN;
  for (const b of bySecond.values()) {
    b.sort((x, y) => x - y);
    const p99 = quantile(b, 0.99);
    if (p99 >= thresholdMs) slow++;
    if (!(p99 <= worstP99)) worstP99 = p99;
  }
  return { seconds: bySecond.size, slow, worstP99 };
}
