/** The memory–quality Pareto front. */

/** A point of a metric-vs-bytes plot. */
export interface ParetoPoint {
  readonly bytes: number;
  /** Higher is better. */
  readonly value: number;
}

/**
 * Indices of the points no other point dominates (fewer or equal bytes and a higher or equal
 * value, better in at least one), ordered by bytes. Of exact duplicates the first is kept.
 * Points with a non-finite coordinate are never on the front.
 */
export function paretoFront(points: readonly ParetoPoint[]): number[] {
  const order = points
    .map((_, i) => i)
    .filter((i) => Number.isFinite(points[i]!.bytes) && Number.isFinite(points[i]!.value))
    .sort((a, b) => points[a]!.bytes - points[b]!.bytes || points[b]!.value - points[a]!.value || a - b);
  const front: number[] = [];
  let best = Number.NEGATIVE_INFINITY;
  for (const i of order) {
    if (points[i]!.value > best) {
      front.push(i);
      best = points[i]!.value;
    }
  }
  return front;
}
