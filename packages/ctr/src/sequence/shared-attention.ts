import type { DinAttention } from '@compactrec/sdim';

/**
 * DIN target attention of `n` candidates over ONE behaviour list shared by all of them (serving: one
 * user's candidates). Equal to `DinAttention.forward` with every row's keys = the shared list, but the
 * first layer W1·[q, k, q − k, q ⊙ k] is split into (Wq + Wd)·q (once per candidate), (Wk − Wd)·k + b1
 * (once per behaviour) and Wp·(q ⊙ k) (per pair), so a pair costs hidden × dim multiply-adds instead of
 * hidden × 4·dim. Sums run in float64 like the layer's; results differ only by summation order.
 * Buffers are reused across calls.
 */
export class SharedDinScorer {
  private kp = new Float64Array(0);
  private qp = new Float64Array(0);
  private m = new Float64Array(0);
  private w = new Float64Array(0);
  private acc = new Float64Array(0);

  /**
   * @param keys `[len × dim]` behaviour (item) embeddings, oldest first
   * @param values `[len × dim]` vectors pooled in place of the keys, or null (pool the keys)
   * @param queries `[n × dim]` candidate embeddings
   * @param out `[n × dim]`, overwritten with Σ_j a_j v_j per candidate
   */
  forward(
    din: DinAttention,
    keys: Float32Array,
    values: Float32Array | null,
    len: number,
    queries: Float32Array,
    n: number,
    out: Float32Array,
  ): void {
    const d = din.dim;
    const H = din.hiddenUnits;
    const in4 = 4 * d;
    const { w1, b1, w2 } = din;
    const b2 = din.b2[0]!;
    const softmax = din.normalization === 'softmax';
    if (this.kp.length < len * H) this.kp = new Float64Array(len * H);
    if (this.qp.length < H) {
      this.qp = new Float64Array(H);
      this.m = new Float64Array(H * d);
    }
    if (this.w.length < len) this.w = new Float64Array(len);
    if (this.acc.length < d) this.acc = new Float64Array(d);
    const { kp, qp, m, w, acc } = this;
    // Per behaviour: b1 + (Wk − Wd)·k.
    for (let j = 0; j < len; j++) {
      const k0 = j * d;
      for (let h = 0; h < H; h++) {
        const r = h * in4;
        let z = b1[h]!;
        for (let t = 0; t < d; t++) z += (w1[r + d + t]! - w1[r + 2 * d + t]!) * keys[k0 + t]!;
        kp[j * H + h] = z;
      }
    }
    const pooled = values ?? keys;
    for (let i = 0; i < n; i++) {
      const q0 = i * d;
      // Per candidate: (Wq + Wd)·q and Wp ⊙ q.
      for (let h = 0; h < H; h++) {
        const r = h * in4;
        let z = 0;
        for (let t = 0; t < d; t++) {
          const q = queries[q0 + t]!;
          z += (w1[r + t]! + w1[r + 2 * d + t]!) * q;
          m[h * d + t] = w1[r + 3 * d + t]! * q;
        }
        qp[h] = z;
      }
      let maxScore = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < len; j++) {
        const k0 = j * d;
        const kr = j * H;
        let score = b2;
        let h = 0;
        // Four hidden units per pass share each load of the key.
        for (; h + 4 <= H; h += 4) {
          let z0 = kp[kr + h]! + qp[h]!;
          let z1 = kp[kr + h + 1]! + qp[h + 1]!;
          let z2 = kp[kr + h + 2]! + qp[h + 2]!;
          let z3 = kp[kr + h + 3]! + qp[h + 3]!;
          const m0 = h * d;
          const m1 = m0 + d;
          const m2 = m1 + d;
          const m3 = m2 + d;
          for (let t = 0; t < d; t++) {
            const k = keys[k0 + t]!;
            z0 += m[m0 + t]! * k;
            z1 += m[m1 + t]! * k;
            z2 += m[m2 + t]! * k;
            z3 += m[m3 + t]! * k;
          }
          if (z0 > 0) score += w2[h]! * z0;
          if (z1 > 0) score += w2[h + 1]! * z1;
          if (z2 > 0) score += w2[h + 2]! * z2;
          if (z3 > 0) score += w2[h + 3]! * z3;
        }
        for (; h < H; h++) {
          let z = kp[kr + h]! + qp[h]!;
          const mr = h * d;
          for (let t = 0; t < d; t++) z += m[mr + t]! * keys[k0 + t]!;
          if (z > 0) score += w2[h]! * z;
        }
        w[j] = score;
        if (score > maxScore) maxScore = score;
      }
      if (softmax && len > 0) {
        let s = 0;
        for (let j = 0; j < len; j++) {
          const e = Math.exp(w[j]! - maxScore);
          w[j] = e;
          s += e;
        }
        for (let j = 0; j < len; j++) w[j]! /= s;
      }
      acc.fill(0, 0, d);
      for (let j = 0; j < len; j++) {
        const a = w[j]!;
        const v0 = j * d;
        for (let t = 0; t < d; t++) acc[t]! += a * pooled[v0 + t]!;
      }
      for (let t = 0; t < d; t++) out[q0 + t] = acc[t]!;
    }
  }
}
