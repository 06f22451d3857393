import { InvalidArgumentError, Rng } from '@compactrec/core';
import { SimHasher } from '@compactrec/sdim';
import { describe, expect, it } from 'vitest';

function randomUnit(rng: Rng, dim: number): Float64Array {
  const v = new Float64Array(dim);
  rng.fillNormal(v);
  const n = Math.hypot(...v);
  for (let d = 0; d < dim; d++) v[d]! /= n;
  return v;
}

/** A pair of unit vectors at exactly angle theta (radians). */
function pairAtAngle(rng: Rng, dim: number, theta: number): Float32Array {
  const x = randomUnit(rng, dim);
  const y = randomUnit(rng, dim);
  let p = 0;
  for (let d = 0; d < dim; d++) p += x[d]! * y[d]!;
  for (let d = 0; d < dim; d++) y[d]! -= p * x[d]!;
  const n = Math.hypot(...y);
  const out = new Float32Array(2 * dim);
  for (let d = 0; d < dim; d++) {
    out[d] = x[d]!;
    out[dim + d] = Math.cos(theta) * x[d]! + (Math.sin(theta) * y[d]!) / n;
  }
  return out;
}

describe('SimHasher', () => {
  it('rejects invalid options', () => {
    expect(() => new SimHasher({ dim: 0 })).toThrow(InvalidArgumentError);
    expect(() => new SimHasher({ dim: 8, numHashes: 10, bitsPerSignature: 3 })).toThrow(InvalidArgumentError);
    expect(() => new SimHasher({ dim: 8, bitsPerSignature: 0 })).toThrow(InvalidArgumentError);
    expect(() => new SimHasher({ dim: 8, bitsPerSignature: 9, numHashes: 18 })).toThrow(InvalidArgumentError);
    expect(() => new SimHasher({ dim: 8, seed: 1.5 })).toThrow(InvalidArgumentError);
    const h = new SimHasher({ dim: 4 });
    expect(() => h.signatures(new Float32Array(7), 2, new Uint8Array(32))).toThrow(InvalidArgumentError);
    expect(() => h.signatures(new Float32Array(8), 2, new Uint8Array(31))).toThrow(InvalidArgumentError);
  });

  it('uses the paper defaults m = 48, tau = 3 and is deterministic in the seed', () => {
    const a = new SimHasher({ dim: 16, seed: 7 });
    expect([a.numHashes, a.bitsPerSignature, a.numSignatures, a.bucketsPerSignature]).toEqual([48, 3, 16, 8]);
    expect(a.projections.length).toBe(48 * 16);
    expect(new SimHasher({ dim: 16, seed: 7 }).projections).toEqual(a.projections);
    expect(new SimHasher({ dim: 16, seed: 8 }).projections).not.toEqual(a.projections);
  });

  it('packs tau consecutive sign bits into each bucket value, batched equal to one-by-one', () => {
    const dim = 10;
    const h = new SimHasher({ dim, numHashes: 12, bitsPerSignature: 4, seed: 3 });
    const n = 50;
    const v = new Float32Array(n * dim);
    new Rng(1).fillNormal(v);
    const out = new Uint8Array(n * h.numSignatures);
    h.signatures(v, n, out);
    for (let j = 0; j < n; j++) {
      for (let s = 0; s < h.numSignatures; s++) {
        let expected = 0;
        for (let b = 0; b < 4; b++) {
          let dot = 0;
          for (let d = 0; d < dim; d++) dot += h.projections[(s * 4 + b) * dim + d]! * v[j * dim + d]!;
          if (dot > 0) expected |= 1 << b;
        }
        expect(out[j * h.numSignatures + s]).toBe(expected);
      }
      expect(Array.from(h.signatureOf(v, j * dim))).toEqual(Array.from(out.subarray(j * 3, j * 3 + 3)));
    }
  });

  it('rebuilds bit-identical hashes from saved projections', () => {
    const h = new SimHasher({ dim: 8, seed: 5 });
    const copy = SimHasher.fromProjections(h.projections.slice(), {
      dim: 8,
      numHashes: 48,
      bitsPerSignature: 3,
      seed: 5,
    });
    const v = new Float32Array(80);
    new Rng(2).fillNormal(v);
    const a = new Uint8Array(160);
    const b = new Uint8Array(160);
    h.signatures(v, 10, a);
    copy.signatures(v, 10, b);
    expect(b).toEqual(a);
    expect(() =>
      SimHasher.fromProjections(new Float32Array(3), { dim: 8, numHashes: 48, bitsPerSignature: 3, seed: 5 }),
    ).toThrow(InvalidArgumentError);
  });

  it('collides with probability (1 - theta/pi)^tau per signature (within 4 standard errors)', () => {
    const dim = 24;
    const numSignatures = 6000;
    for (const tau of [1, 2, 3]) {
      const sig = new Uint8Array(2 * numSignatures);
      for (const degrees of [15, 45, 90, 135]) {
        const theta = (degrees * Math.PI) / 180;
        const p = (1 - theta / Math.PI) ** tau;
        // Fresh hyperplanes per pair, independent across signatures: the indicators are i.i.d. Bernoulli(p).
        const rng = new Rng(degrees * 10 + tau);
        let hits = 0;
        const pairs = 4;
        for (let t = 0; t < pairs; t++) {
          const seed = degrees * 1000 + tau * 10 + t;
          const h = new SimHasher({ dim, numHashes: numSignatures * tau, bitsPerSignature: tau, seed });
          h.signatures(pairAtAngle(rng, dim, theta), 2, sig);
          for (let s = 0; s < numSignatures; s++) if (sig[s] === sig[numSignatures + s]) hits++;
        }
        const n = pairs * numSignatures;
        const se = Math.sqrt((p * (1 - p)) / n);
        expect(Math.abs(hits / n - p), `tau ${tau}, ${degrees}°: rate ${hits / n} vs ${p}`).toBeLessThanOrEqual(4 * se);
      }
    }
  });
});
