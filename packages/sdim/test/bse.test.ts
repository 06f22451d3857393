import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactRecError, DataFormatError, InvalidArgumentError, Rng, UsageError } from '@compactrec/core';
import {
  bseAdd,
  bseBytes,
  bseRemove,
  createBseState,
  createSdimModelVersion,
  deserializeBse,
  encodeBse,
  loadSdimModelVersion,
  readInterest,
  SdimLayer,
  SimHasher,
  saveSdimModelVersion,
  serializeBse,
} from '@compactrec/sdim';
import { afterAll, describe, expect, it } from 'vitest';

const dim = 16;
const model = createSdimModelVersion({ version: 'v1', numItems: 300, dim, seed: 11 });
const { hasher, itemEmbeddings } = model;
const row = (i: number): Float32Array => itemEmbeddings.subarray(i * dim, (i + 1) * dim);

function gather(items: number[]): Float32Array {
  const out = new Float32Array(items.length * dim);
  for (let j = 0; j < items.length; j++) out.set(row(items[j]!), j * dim);
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('BSE state', () => {
  it('has the documented layout and size numSignatures × 2^tau × (8·dim + 4)', () => {
    const s = createBseState(hasher, 'v1');
    expect(s.sums.length).toBe(16 * 8 * dim);
    expect(s.counts.length).toBe(16 * 8);
    expect(bseBytes(s)).toBe(16 * 8 * (8 * dim + 4));
    expect(s.length).toBe(0);
    expect(s.version).toBe('v1');
  });

  it('rejects a hasher of another shape and bad vectors', () => {
    const s = createBseState(hasher, 'v1');
    const other = new SimHasher({ dim, numHashes: 24, bitsPerSignature: 3 });
    expect(() => bseAdd(s, other, row(0))).toThrow(UsageError);
    expect(() => readInterest(s, other, row(0), 1, new Float32Array(dim))).toThrow(UsageError);
    expect(() => bseAdd(s, hasher, new Float32Array(dim - 1))).toThrow(InvalidArgumentError);
    expect(() => readInterest(s, hasher, row(0), 2, new Float32Array(2 * dim))).toThrow(InvalidArgumentError);
    expect(() => encodeBse(hasher, new Float32Array(dim), -1, 'v1')).toThrow(InvalidArgumentError);
  });

  it('encodeBse equals adding the behaviours one by one', () => {
    const rng = new Rng(1);
    const items = Array.from({ length: 120 }, () => rng.nextInt(300));
    const a = encodeBse(hasher, gather(items), items.length, 'v1');
    const b = createBseState(hasher, 'v1');
    for (const it of items) bseAdd(b, hasher, row(it));
    expect(b.sums).toEqual(a.sums);
    expect(b.counts).toEqual(a.counts);
    expect(b.length).toBe(120);
    for (let s = 0; s < a.numSignatures; s++) {
      let total = 0;
      for (let k = 0; k < 8; k++) total += a.counts[s * 8 + k]!;
      expect(total).toBe(120);
    }
  });

  it('reads the same interest as the end-to-end SDIM layer (max abs diff <= 1e-5)', () => {
    const rng = new Rng(2);
    const L = 400;
    const numCandidates = 60;
    const layer = new SdimLayer(hasher);
    for (const len of [0, 1, 37, 400]) {
      const items = Array.from({ length: len }, () => rng.nextInt(300));
      const state = encodeBse(hasher, gather(items), len, 'v1');
      const candidates = gather(Array.from({ length: numCandidates }, () => rng.nextInt(300)));
      const fromState = new Float32Array(numCandidates * dim);
      readInterest(state, hasher, candidates, numCandidates, fromState);
      // The layer sees the same sequence once per candidate, padded to L with garbage.
      const behaviours = new Float32Array(numCandidates * L * dim);
      rng.fillNormal(behaviours);
      const seq = gather(items);
      for (let b = 0; b < numCandidates; b++) behaviours.set(seq, b * L * dim);
      const lengths = new Int32Array(numCandidates).fill(len);
      const fromLayer = new Float32Array(numCandidates * dim);
      layer.forward(behaviours, lengths, candidates, numCandidates, L, fromLayer);
      expect(maxAbsDiff(fromState, fromLayer)).toBeLessThanOrEqual(1e-5);
      if (len > 30) expect(Math.max(...fromState.map(Math.abs))).toBeGreaterThan(0.05);
      if (len === 0) expect(fromState.every((v) => v === 0)).toBe(true);
    }
  });

  it('with values ≠ item embeddings: hashes the items, sums the values, equal to the layer (l2, mean, sum)', () => {
    const rng = new Rng(5);
    const L = 300;
    const numCandidates = 40;
    const layer = new SdimLayer(hasher);
    // Values = item embedding + one of 5 feedback embeddings, as the sequence CTR block builds them.
    const feedback = new Float32Array(6 * dim);
    rng.fillNormal(feedback, 0.5);
    for (const len of [0, 25, 300]) {
      const items = Array.from({ length: len }, () => rng.nextInt(300));
      const fb = items.map(() => 1 + rng.nextInt(5));
      const keys = gather(items);
      const values = keys.slice();
      for (let j = 0; j < len; j++) for (let d = 0; d < dim; d++) values[j * dim + d]! += feedback[fb[j]! * dim + d]!;
      const state = encodeBse(hasher, keys, len, 'v1', values);
      const inc = createBseState(hasher, 'v1');
      for (let j = 0; j < len; j++) bseAdd(inc, hasher, row(items[j]!), values.subarray(j * dim, (j + 1) * dim));
      expect(inc.counts).toEqual(state.counts);
      expect(maxAbsDiff(inc.sums, state.sums)).toBeLessThanOrEqual(1e-9);
      const candidates = gather(Array.from({ length: numCandidates }, () => rng.nextInt(300)));
      const fromState = new Float32Array(numCandidates * dim);
      readInterest(state, hasher, candidates, numCandidates, fromState);
      const behaviours = new Float32Array(numCandidates * L * dim);
      const vals = new Float32Array(numCandidates * L * dim);
      for (let b = 0; b < numCandidates; b++) {
        behaviours.set(keys, b * L * dim);
        vals.set(values, b * L * dim);
      }
      const fromLayer = new Float32Array(numCandidates * dim);
      layer.forward(behaviours, new Int32Array(numCandidates).fill(len), candidates, numCandidates, L, fromLayer, vals);
      expect(maxAbsDiff(fromState, fromLayer)).toBeLessThanOrEqual(1e-5);
      // Mean and sum pooling read the same from the state's counts.
      for (const pooling of ['mean', 'sum'] as const) {
        const fromCounts = new Float32Array(numCandidates * dim);
        readInterest(state, hasher, candidates, numCandidates, fromCounts, pooling);
        const pooled = new Float32Array(numCandidates * dim);
        new SdimLayer(hasher, pooling).forward(
          behaviours,
          new Int32Array(numCandidates).fill(len),
          candidates,
          numCandidates,
          L,
          pooled,
          vals,
        );
        expect(maxAbsDiff(fromCounts, pooled)).toBeLessThanOrEqual(1e-5);
      }
      if (len > 0) {
        // The values matter: without them the interest differs.
        const plain = new Float32Array(numCandidates * dim);
        readInterest(encodeBse(hasher, keys, len, 'v1'), hasher, candidates, numCandidates, plain);
        expect(maxAbsDiff(plain, fromState)).toBeGreaterThan(0.01);
        // Removing every behaviour with its value empties the state exactly.
        for (let j = 0; j < len; j++) bseRemove(inc, hasher, row(items[j]!), values.subarray(j * dim, (j + 1) * dim));
        expect(inc.length).toBe(0);
        expect(inc.sums.every((v) => v === 0)).toBe(true);
      }
    }
    expect(() => encodeBse(hasher, gather([1, 2]), 2, 'v1', new Float32Array(dim))).toThrow(InvalidArgumentError);
    const s0 = encodeBse(hasher, gather([1]), 1, 'v1');
    expect(() => readInterest(s0, hasher, row(0), 1, new Float32Array(dim), 'max' as 'l2')).toThrow(
      InvalidArgumentError,
    );
  });

  it('incremental add/remove matches recomputation from scratch over many random operations', () => {
    const rng = new Rng(3);
    const state = createBseState(hasher, 'v1');
    const window: number[] = [];
    const W = 50;
    const candidates = gather(Array.from({ length: 20 }, () => rng.nextInt(300)));
    const a = new Float32Array(20 * dim);
    const b = new Float32Array(20 * dim);
    for (let op = 0; op < 3000; op++) {
      const r = rng.next();
      if (r < 0.6 || window.length === 0) {
        const it = rng.nextInt(300);
        bseAdd(state, hasher, row(it));
        window.push(it);
        if (window.length > W) bseRemove(state, hasher, row(window.shift()!)); // leaves the length-W window
      } else {
        const k = rng.nextInt(window.length); // arbitrary removal (e.g. a retracted event)
        bseRemove(state, hasher, row(window[k]!));
        window.splice(k, 1);
      }
      if (op % 100 === 99) {
        const fresh = encodeBse(hasher, gather(window), window.length, 'v1');
        expect(state.length).toBe(window.length);
        expect(state.counts).toEqual(fresh.counts);
        expect(maxAbsDiff(state.sums, fresh.sums)).toBeLessThan(1e-9);
        readInterest(state, hasher, candidates, 20, a);
        readInterest(fresh, hasher, candidates, 20, b);
        expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
      }
    }
    while (window.length > 0) bseRemove(state, hasher, row(window.pop()!));
    expect(state.length).toBe(0);
    expect(state.sums.every((v) => v === 0)).toBe(true);
  });

  it('refuses to remove a behaviour that cannot be in the state, leaving it untouched', () => {
    const state = encodeBse(hasher, gather([1, 2, 3]), 3, 'v1');
    const before = serializeBse(state);
    let probe = 4;
    // find an item whose buckets are not all populated by items 1..3
    while (hasher.signatureOf(row(probe)).every((k, s) => state.counts[s * 8 + k]! > 0)) probe++;
    expect(() => bseRemove(state, hasher, row(probe))).toThrow(UsageError);
    expect(serializeBse(state)).toEqual(before);
    expect(() => bseRemove(createBseState(hasher, 'v1'), hasher, row(1))).toThrow(UsageError);
  });
});

describe('BSE serialization', () => {
  const rng = new Rng(4);
  const items = Array.from({ length: 40 }, () => rng.nextInt(300));
  const state = encodeBse(hasher, gather(items), items.length, 'model-2026-11-26');

  it('round-trips losslessly and is smaller than the raw arrays when buckets are empty', () => {
    const bytes = serializeBse(state);
    const back = deserializeBse(bytes);
    expect(back.version).toBe('model-2026-11-26');
    expect(back.length).toBe(40);
    expect(back.sums).toEqual(state.sums);
    expect(back.counts).toEqual(state.counts);
    const small = serializeBse(encodeBse(hasher, gather([5]), 1, 'v'));
    expect(small.length).toBeLessThan(bseBytes(state) / 4);
    const empty = deserializeBse(serializeBse(createBseState(hasher, 'e')));
    expect(empty.length).toBe(0);
    // continues exactly like the original
    bseAdd(back, hasher, row(7));
    const orig = deserializeBse(bytes);
    bseAdd(orig, hasher, row(7));
    expect(back.sums).toEqual(orig.sums);
  });

  it('reports garbage as DataFormatError and another format version as UsageError', () => {
    const bytes = serializeBse(state);
    expect(() => deserializeBse(new Uint8Array(5))).toThrow(DataFormatError);
    expect(() => deserializeBse(new Uint8Array(200).fill(7))).toThrow(DataFormatError);
    expect(() => deserializeBse(bytes.subarray(0, bytes.length - 9))).toThrow(DataFormatError);
    const flipped = bytes.slice();
    flipped[flipped.length - 20]! ^= 0x40;
    expect(() => deserializeBse(flipped)).toThrow(DataFormatError);
    const future = bytes.slice();
    future[4] = 2;
    expect(() => deserializeBse(future)).toThrow(UsageError);
  });
});

describe('SDIM model versions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdim-model-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates seeded versions and validates options', () => {
    const again = createSdimModelVersion({ version: 'v1', numItems: 300, dim, seed: 11 });
    expect(again.itemEmbeddings).toEqual(itemEmbeddings);
    expect(again.hasher.projections).toEqual(hasher.projections);
    const custom = createSdimModelVersion({
      version: 'v',
      numItems: 2,
      dim: 4,
      seed: 1,
      hash: { numHashes: 8, bitsPerSignature: 2 },
    });
    expect(custom.hasher.numSignatures).toBe(4);
    expect(() => createSdimModelVersion({ version: 'v', numItems: 0, dim: 4, seed: 1 })).toThrow(InvalidArgumentError);
  });

  it('saves and loads a model version with bit-identical hashes', async () => {
    const m = createSdimModelVersion({
      version: 'v7',
      numItems: 50,
      dim: 8,
      seed: 9,
      hash: { numHashes: 12, bitsPerSignature: 2, seed: 4 },
    });
    const path = join(dir, 'v7.ckpt');
    await saveSdimModelVersion(path, m);
    const back = await loadSdimModelVersion(path);
    expect(back.version).toBe('v7');
    expect([back.numItems, back.dim, back.hasher.numHashes, back.hasher.bitsPerSignature]).toEqual([50, 8, 12, 2]);
    expect(back.itemEmbeddings).toEqual(m.itemEmbeddings);
    const a = new Uint8Array(50 * 6);
    const b = new Uint8Array(50 * 6);
    m.hasher.signatures(m.itemEmbeddings, 50, a);
    back.hasher.signatures(back.itemEmbeddings, 50, b);
    expect(b).toEqual(a);
  });

  it('fails clearly on a missing or foreign file', async () => {
    await expect(loadSdimModelVersion(join(dir, 'nope'))).rejects.toBeInstanceOf(CompactRecError);
    const junk = join(dir, 'junk');
    writeFileSync(junk, 'hello world, not a checkpoint');
    await expect(loadSdimModelVersion(junk)).rejects.toBeInstanceOf(DataFormatError);
  });
});
