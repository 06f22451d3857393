import { generateRetrievalDataset, InvalidArgumentError } from '@compactrec/core';
import { ID_HASHING_METHODS } from '@compactrec/id-hashing';
import {
  createPropagation,
  lrScale,
  type MfBprOptions,
  normalizedAdjacency,
  Tower,
  trainMfBpr,
} from '@compactrec/models';
import { getKernels } from '@compactrec/native';
import { describe, expect, it } from 'vitest';

const data = generateRetrievalDataset({ numUsers: 500, numItems: 700, communities: 10, meanDegree: 25, seed: 3 });
const dim = 16;

function towers(method: string, budget = 0.25) {
  const mk = (side: 'user' | 'item') => {
    const numIds = side === 'user' ? data.train.numUsers : data.train.numItems;
    const spec = ID_HASHING_METHODS[method]!;
    const full = numIds * dim * 4;
    const m = spec.create(
      { numIds },
      { dim, budgetBytes: method === 'full' ? full : Math.floor(full * budget), seed: 1 },
    );
    return new Tower(m, dim, { seed: side === 'user' ? 1 : 2 });
  };
  return [mk('user'), mk('item')] as const;
}

describe('@compactrec/models', () => {
  it('rejects bad options and mismatched towers before any work', () => {
    const [u, i] = towers('full');
    expect(() => trainMfBpr(data, u, i, { epochs: 0 })).toThrow(InvalidArgumentError);
    expect(() => trainMfBpr(data, u, i, { lr: -1 })).toThrow(InvalidArgumentError);
    expect(() => trainMfBpr(data, i, u, { epochs: 1 })).toThrow(InvalidArgumentError);
    expect(() => trainMfBpr(data, u, i, { lrFinal: 2 })).toThrow(InvalidArgumentError);
    expect(() => trainMfBpr(data, u, i, { lrSchedule: 'step' as 'cosine' })).toThrow(InvalidArgumentError);
    expect(() => trainMfBpr(data, u, i, { sampling: 'item' as 'user' })).toThrow(/sampling 'item' is unknown/);
    expect(() => trainMfBpr(data, u, i, { model: 'lightgcn', layers: 5 })).toThrow(/layers \(5\) must be/);
  });

  it('cosine learning-rate schedule anneals from lr to lr·lrFinal', () => {
    expect(lrScale('constant', 0.01, 0.7)).toBe(1);
    expect(lrScale('cosine', 0.01, 0)).toBe(1);
    expect(lrScale('cosine', 0.01, 0.5)).toBeCloseTo(0.505, 12);
    expect(lrScale('cosine', 0.01, 1)).toBeCloseTo(0.01, 12);
    expect(lrScale('cosine', 0, 0.25)).toBeCloseTo((1 + Math.cos(Math.PI / 4)) / 2, 12);
    for (let p = 0.1; p < 1; p += 0.1)
      expect(lrScale('cosine', 0.01, p)).toBeLessThan(lrScale('cosine', 0.01, p - 0.1));
  });

  it('reports table, mapping and optimizer bytes separately', () => {
    const [u] = towers('modulo');
    expect(u.embeddingBytes).toBe(u.mapper.rows * dim * 4);
    expect(u.optimizerBytes).toBe(2 * u.embeddingBytes);
    expect(u.mappingBytes).toBe(u.mapper.mappingBytes);
  });

  it('MF-BPR learns: recall@20 far above random ranking, deterministic for a seed', () => {
    const run = () => {
      const [u, i] = towers('full');
      return trainMfBpr(data, u, i, { epochs: 8, lr: 0.01, batchSize: 512, seed: 4 });
    };
    const a = run();
    const b = run();
    // Random ranking of 700 items gives recall@20 ≈ 20/700 ≈ 0.03.
    expect(a.final.recall).toBeGreaterThan(0.15);
    expect(a.losses[a.losses.length - 1]!).toBeLessThan(a.losses[0]!);
    expect(b.final.recall).toBe(a.final.recall);
  });

  it('LightGCN propagation equals (E0 + ÂE0 + Â²E0) / 3 computed densely', () => {
    const small = generateRetrievalDataset({ numUsers: 20, numItems: 30, communities: 3, meanDegree: 6, seed: 1 });
    const adj = normalizedAdjacency(small.train);
    const N = adj.numNodes;
    const A = new Float64Array(N * N);
    for (let x = 0; x < N; x++)
      for (let e = adj.offsets[x]!; e < adj.offsets[x + 1]!; e++) A[x * N + adj.indices[e]!] = adj.values[e]!;
    // Symmetric, with 1/sqrt(du·di) weights.
    for (let x = 0; x < N; x++) for (let y = 0; y < N; y++) expect(A[x * N + y]).toBeCloseTo(A[y * N + x]!, 6);
    const spec = ID_HASHING_METHODS.full!;
    const u = new Tower(spec.create({ numIds: 20 }, { dim: 4, budgetBytes: 20 * 16, seed: 0 }), 4, { seed: 1 });
    const i = new Tower(spec.create({ numIds: 30 }, { dim: 4, budgetBytes: 30 * 16, seed: 0 }), 4, { seed: 2 });
    const prop = createPropagation(small.train, u, i, 2);
    prop.refresh();
    const E0 = Float64Array.from(prop.ego);
    const mul = (M: Float64Array, X: Float64Array) => {
      const Y = new Float64Array(N * 4);
      for (let x = 0; x < N; x++)
        for (let y = 0; y < N; y++) for (let c = 0; c < 4; c++) Y[x * 4 + c]! += M[x * N + y]! * X[y * 4 + c]!;
      return Y;
    };
    const E1 = mul(A, E0);
    const E2 = mul(A, E1);
    for (let j = 0; j < E0.length; j++) expect(prop.final[j]).toBeCloseTo((E0[j]! + E1[j]! + E2[j]!) / 3, 5);
  });

  it.skipIf(getKernels().kind !== 'native')('LightGCN training beats MF on a graph with planted communities', () => {
    const [u1, i1] = towers('full');
    const mf = trainMfBpr(data, u1, i1, { epochs: 6, lr: 0.01, batchSize: 512, seed: 2 });
    const [u2, i2] = towers('full');
    const gcn = trainMfBpr(data, u2, i2, { model: 'lightgcn', epochs: 6, lr: 0.01, batchSize: 512, seed: 2 });
    expect(gcn.final.recall).toBeGreaterThan(mf.final.recall);
    const [u3, i3] = towers('full');
    const agg = trainMfBpr(data, u3, i3, {
      model: 'lightgcn',
      epochs: 6,
      lr: 0.01,
      batchSize: 512,
      seed: 2,
      aggregateNeighbors: true,
      maxNeighbors: 0,
    });
    expect(agg.final.recall).toBeGreaterThan(mf.final.recall);
  });

  it.skipIf(getKernels().kind !== 'native')(
    'aggregating gradients per node before the exact 1-hop scatter gives the same step as scattering per triple',
    () => {
      // One layer, all neighbours: every path computes Â·G exactly (the exact mode through its own
      // scatter), so one epoch must end at the same tables up to float summation order.
      const opts = {
        model: 'lightgcn',
        layers: 1,
        epochs: 1,
        lr: 0.01,
        batchSize: 256,
        seed: 4,
        maxNeighbors: 0,
      } as const;
      const run = (o: MfBprOptions): number[] => {
        const [u, i] = towers('full');
        trainMfBpr(data, u, i, { ...opts, ...o });
        return [...u.composeAll(), ...i.composeAll()];
      };
      const a = run({ aggregateNeighbors: false, threads: 1 });
      const [u0, i0] = towers('full');
      const start = [...u0.composeAll(), ...i0.composeAll()];
      let changed = 0;
      for (let j = 0; j < a.length; j++) if (a[j] !== start[j]) changed++;
      expect(changed).toBeGreaterThan(a.length / 2);
      for (const o of [
        { aggregateNeighbors: true, exactHops: false, threads: 2 },
        { aggregateNeighbors: true, exactHops: true, threads: 2 },
        { aggregateNeighbors: true, exactHops: true, threads: 1 },
      ]) {
        const b = run(o);
        let maxDiff = 0;
        for (let j = 0; j < a.length; j++) maxDiff = Math.max(maxDiff, Math.abs(a[j]! - b[j]!));
        expect(maxDiff, JSON.stringify(o)).toBeLessThan(1e-4);
      }
    },
  );

  it.skipIf(getKernels().kind !== 'native')(
    'the sampled walks estimate Â²G and Â³G without bias, the exact mode computes them (one linearized step, L = 3)',
    () => {
      // One batch holding every training pair, one Adam step with ε ≫ |g| and lr = ε: the update of
      // each row is then the negated gradient itself (Adam's first step is lr·g/(|g| + ε)). With 2
      // threads the walks draw from their own generators, so all runs score the same negatives and
      // the hop terms can be told apart by differences of runs:
      //   own term only (no graph):          Δc = −a0·G
      //   + exact 1-hop, no walks:           Δa = Δc + Â·Δc           (a0 = a1 = a2 = a3 = 1/4)
      //   + 2- and 3-hop walks:          E[Δb] = Δa + (Â² + Â³)·Δc
      const small = generateRetrievalDataset({ numUsers: 24, numItems: 36, communities: 3, meanDegree: 6, seed: 5 });
      const adj = normalizedAdjacency(small.train);
      const N = adj.numNodes;
      const d = 4;
      const spec = ID_HASHING_METHODS.full!;
      const mk = () => {
        const u = new Tower(spec.create({ numIds: 24 }, { dim: d, budgetBytes: 24 * d * 4, seed: 0 }), d, { seed: 1 });
        const i = new Tower(spec.create({ numIds: 36 }, { dim: d, budgetBytes: 36 * d * 4, seed: 0 }), d, { seed: 2 });
        return [u, i] as const;
      };
      const step = (o: { neighborGradients: boolean; twoHopSamples: number; exactHops?: boolean }): Float64Array => {
        const [u, i] = mk();
        const before = [...u.composeAll(), ...i.composeAll()];
        trainMfBpr(small, u, i, {
          model: 'lightgcn',
          layers: 3,
          epochs: 1,
          batchSize: small.train.items.length,
          lr: 1e4,
          eps: 1e4,
          reg: 0,
          seed: 9,
          threads: 2,
          aggregateNeighbors: true,
          maxNeighbors: 0,
          exactHops: false,
          ...o,
        });
        const after = [...u.composeAll(), ...i.composeAll()];
        return Float64Array.from(after, (x, j) => x - before[j]!);
      };
      const mul = (x: Float64Array): Float64Array => {
        const y = new Float64Array(N * d);
        for (let v = 0; v < N; v++)
          for (let e = adj.offsets[v]!; e < adj.offsets[v + 1]!; e++)
            for (let c = 0; c < d; c++) y[v * d + c]! += adj.values[e]! * x[adj.indices[e]! * d + c]!;
        return y;
      };
      const relErr = (x: Float64Array, y: Float64Array): number => {
        let num = 0;
        let den = 0;
        for (let j = 0; j < x.length; j++) {
          num += (x[j]! - y[j]!) ** 2;
          den += y[j]! ** 2;
        }
        return Math.sqrt(num / den);
      };
      const dc = step({ neighborGradients: false, twoHopSamples: 0 });
      const da = step({ neighborGradients: true, twoHopSamples: 0 });
      const db = step({ neighborGradients: true, twoHopSamples: 20000 });
      const a1 = mul(dc);
      const a2 = mul(a1);
      const a3 = mul(a2);
      // The exact 1-hop term, to float precision.
      expect(
        relErr(
          Float64Array.from(da, (x, j) => x - dc[j]!),
          a1,
        ),
      ).toBeLessThan(1e-3);
      // The walks' part matches (Â² + Â³)·Δc within Monte-Carlo error, and not Â²·Δc alone.
      const walks = Float64Array.from(db, (x, j) => x - da[j]!);
      expect(
        relErr(
          walks,
          Float64Array.from(a2, (x, j) => x + a3[j]!),
        ),
      ).toBeLessThan(0.03);
      expect(relErr(walks, a2)).toBeGreaterThan(0.2);
      // The exact mode gives (Â + Â² + Â³)·Δc to float precision, on 1 and 2 threads alike.
      const hops = Float64Array.from(a1, (x, j) => x + a2[j]! + a3[j]!);
      const de = step({ neighborGradients: true, twoHopSamples: 0, exactHops: true });
      expect(
        relErr(
          Float64Array.from(de, (x, j) => x - dc[j]!),
          hops,
        ),
      ).toBeLessThan(1e-3);
    },
  );

  it.skipIf(getKernels().kind !== 'native')(
    '2-thread LightGCN training (sampled and exact hops) is deterministic for a seed',
    () => {
      const opts = { model: 'lightgcn', epochs: 2, lr: 0.01, batchSize: 256, seed: 6, threads: 2 } as const;
      const run = (o: MfBprOptions) => {
        const [u, i] = towers('full');
        const r = trainMfBpr(data, u, i, { ...opts, ...o });
        return { emb: [...u.composeAll(), ...i.composeAll()], loss: r.losses };
      };
      for (const o of [
        { aggregateNeighbors: false },
        { aggregateNeighbors: true, exactHops: false },
        { aggregateNeighbors: true, exactHops: true },
      ]) {
        const a = run(o);
        const b = run(o);
        expect(b.loss).toEqual(a.loss);
        expect(b.emb).toEqual(a.emb);
      }
    },
  );

  it('trains every sharing method end to end at a 25% budget', () => {
    for (const method of ['modulo', 'double', 'frequency', 'double-frequency', 'qr', 'hash-embedding']) {
      const mk = (side: 'user' | 'item') => {
        const numIds = side === 'user' ? data.train.numUsers : data.train.numItems;
        const counts = new Uint32Array(numIds);
        if (side === 'user')
          for (let x = 0; x < numIds; x++) counts[x] = data.train.offsets[x + 1]! - data.train.offsets[x]!;
        else for (const it of data.train.items) counts[it]!++;
        const m = ID_HASHING_METHODS[method]!.create({ numIds, counts }, { dim, budgetBytes: numIds * dim, seed: 5 });
        return new Tower(m, dim, { seed: 9 });
      };
      const r = trainMfBpr(data, mk('user'), mk('item'), { epochs: 6, lr: 0.01, batchSize: 512 });
      expect(r.losses[5]!, method).toBeLessThan(r.losses[0]!);
      expect(r.final.recall, method).toBeGreaterThan(0.03);
    }
  });
});
