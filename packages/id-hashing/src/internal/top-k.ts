/**
 * The k highest-count IDs, ranked by count (descending) with ties broken by the smaller ID.
 *
 * O(n log n) in a native numeric sort of a copy of the counts (no comparator) to find the k-th
 * largest count, then O(n) to collect, then O(k log k) to rank the k winners.
 */
export function selectTopIds(counts: Uint32Array, k: number): Int32Array {
  const n = counts.length;
  const out = new Int32Array(k);
  if (k === 0) return out;
  const sorted = counts.slice().sort();
  const threshold = sorted[n - k]!;
  let filled = 0;
  for (let id = 0; id < n; id++) if (counts[id]! > threshold) out[filled++] = id;
  // IDs at the threshold count, smallest IDs first, until k are chosen.
  for (let id = 0; id < n && filled < k; id++) if (counts[id]! === threshold) out[filled++] = id;
  out.sort((x, y) => counts[y]! - counts[x]! || x - y);
  return out;
}

/**
 * Which row each top ID owns, in whichever of two layouts is smaller:
 * - `sorted`: the k top IDs ascending plus their rows (8k bytes, binary search, O(log k));
 * - `dense`: one int32 per fitted ID, −1 for non-top IDs (4·numIds bytes, O(1)),
 *   chosen only when 8k > 4·numIds (topFraction above ~0.5 with m near numIds).
 */
export class TopIndex {
  /** `sorted`: top IDs ascending; `dense`: empty. */
  readonly ids: Int32Array;
  /** `sorted`: row of `ids[i]`; `dense`: row of every ID in [0, numIds), −1 if not a top ID. */
  readonly rows: Int32Array;
  readonly dense: boolean;
  /** Number of top IDs. */
  readonly k: number;

  constructor(ids: Int32Array, rows: Int32Array, dense: boolean, k: number) {
    this.ids = ids;
    this.rows = rows;
    this.dense = dense;
    this.k = k;
  }

  /** Rank i of `byRank` owns row `firstRow + i`; picks the smaller layout for `numIds` IDs. */
  static build(byRank: Int32Array, firstRow: number, numIds: number): TopIndex {
    const k = byRank.length;
    if (8 * k > 4 * numIds) {
      const rows = new Int32Array(numIds).fill(-1);
      for (let i = 0; i < k; i++) rows[byRank[i]!] = firstRow + i;
      return new TopIndex(new Int32Array(0), rows, true, k);
    }
    const order = new Int32Array(k);
    for (let i = 0; i < k; i++) order[i] = i;
    order.sort((x, y) => byRank[x]! - byRank[y]!);
    const ids = new Int32Array(k);
    const rows = new Int32Array(k);
    for (let i = 0; i < k; i++) {
      ids[i] = byRank[order[i]!]!;
      rows[i] = firstRow + order[i]!;
    }
    return new TopIndex(ids, rows, false, k);
  }

  /** Own row of `id`, or −1 if it is not a top ID (IDs outside [0, numIds) never are). */
  rowOf(id: number): number {
    const rows = this.rows;
    if (this.dense) return id < rows.length ? rows[id]! : -1;
    const ids = this.ids;
    let lo = 0;
    let hi = ids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = ids[mid]!;
      if (v < id) lo = mid + 1;
      else if (v > id) hi = mid - 1;
      else return rows[mid]!;
    }
    return -1;
  }

  /** Bytes the lookup holds. */
  get byteLength(): number {
    return this.ids.byteLength + this.rows.byteLength;
  }

  /** Snapshot arrays (copies): `{ topIds, topRows }` or `{ topRowById }`. */
  arrays(): Record<string, Int32Array> {
    return this.dense ? { topRowById: this.rows.slice() } : { topIds: this.ids.slice(), topRows: this.rows.slice() };
  }
}
