import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFormatError, generateRetrievalDataset, InvalidArgumentError, UsageError } from '@compactrec/core';
import { DSL_STORAGE_NAME as DSL } from '@compactrec/dsl';
import { createFeatureEmbedding, type FeatureEmbedding } from '@compactrec/embedding';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeNpy,
  decodeSafetensors,
  encodeNpy,
  encodeSafetensors,
  exportFeatureEmbeddings,
  importTable,
  readExport,
  reconstructEmbeddings,
  tensor,
  writeExport,
} from '../src/index.js';
import { trainMf } from './mf.js';

const dir = mkdtempSync(join(tmpdir(), 'interop-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('safetensors and npy codecs', () => {
  it('round-trips every dtype with shapes, metadata and 8-byte header padding', () => {
    const tensors = {
      a: tensor('F32', [2, 3], Float32Array.from([1, 2, 3, 4, 5, -6.5])),
      b: tensor('U8', [3], Uint8Array.from([0, 7, 255])),
      c: tensor('I32', [2, 1], Int32Array.from([-1, 9])),
      d: tensor('F16', [1], Uint16Array.from([0x3c00])),
    };
    const bytes = encodeSafetensors(tensors, { note: 'x' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const back = decodeSafetensors(bytes, 'mem');
    expect(back.metadata).toEqual({ note: 'x' });
    for (const [k, t] of Object.entries(tensors)) {
      expect(back.tensors[k]!.dtype).toBe(t.dtype);
      expect(back.tensors[k]!.shape).toEqual(t.shape);
      expect(Array.from(back.tensors[k]!.data as Uint8Array)).toEqual(Array.from(t.data as Uint8Array));
    }
  });

  it('writes .npy v1.0 with the data 64-byte aligned and reads it back', () => {
    const t = tensor('F32', [2, 2], Float32Array.from([1, 2, 3, 4]));
    const bytes = encodeNpy(t);
    const hlen = new DataView(bytes.buffer).getUint16(8, true);
    expect((10 + hlen) % 64).toBe(0);
    expect(Buffer.from(bytes.subarray(10, 10 + hlen)).toString('latin1')).toContain("'shape': (2, 2)");
    expect(Array.from(decodeNpy(bytes, 'mem').data as Float32Array)).toEqual([1, 2, 3, 4]);
  });

  it('names the file and the problem for a truncated safetensors file and a shape that does not match', () => {
    const bytes = encodeSafetensors({ a: tensor('F32', [4], new Float32Array(4)) });
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 4), 'cut.safetensors')).toThrow(
      /cut\.safetensors.*offsets/,
    );
    expect(() => tensor('F32', [3], new Float32Array(4))).toThrow(InvalidArgumentError);
    expect(() => decodeSafetensors(new Uint8Array(3), 'tiny')).toThrow(DataFormatError);
  });
});

const data = generateRetrievalDataset({ numUsers: 300, numItems: 400, communities: 6, meanDegree: 8, seed: 5 });
const dim = 8;

/** Every ID's embedding as the library serves it. */
function served(e: FeatureEmbedding): Float32Array {
  const ids = Int32Array.from({ length: e.numIds }, (_, i) => i);
  const out = new Float32Array(e.numIds * dim);
  e.lookup(ids, out);
  return out;
}

// Each storage layout (dense f32/f16, row-wise int8/int4, ALPT, CSR f32 / int8 codes) and each
// combine (sum, weighted sum, mult) appears at least once.
// Budgets are fractions of the full float32 table (fp16 alone needs 0.5, ALPT-8 at d 8 0.375).
const METHODS: [string, string, number][] = [
  ['full', 'graphhash', 0.3],
  ['graphhash+int8', 'double-frequency+int4', 0.3],
  ['fp16', 'alpt8', 0.6],
  ['alpt4', 'qr', 0.3],
  [DSL, 'dsl+int8', 0.3],
  ['hash-embedding', 'modulo+fp16', 0.3],
];

describe('exportFeatureEmbeddings', () => {
  for (const [u, i, budget] of METHODS) {
    it(`rebuilds every served embedding of ${u} (users) and ${i} (items) from safetensors and npy`, async () => {
      const model = trainMf(data, { user: u, item: i }, { dim, budget, epochs: 2 });
      const bundle = exportFeatureEmbeddings({ user: model.user, item: model.item });
      const st = join(dir, `${u}-${i}.safetensors`);
      const npy = join(dir, `${u}-${i}.npy.d`);
      await writeExport(bundle, st, 'safetensors');
      await writeExport(bundle, npy, 'npy');
      for (const path of [st, npy]) {
        const back = await readExport(path);
        for (const [name, e] of [
          ['user', model.user],
          ['item', model.item],
        ] as const) {
          const ids = Int32Array.from({ length: e.numIds }, (_, k) => k);
          const want = served(e);
          const got = reconstructEmbeddings(back, name, ids);
          let worst = 0;
          for (let k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(want[k]! - got[k]!));
          expect(worst, `${path} ${name}`).toBeLessThan(1e-6);
          // The table must not be trivially zero: a broken layout could agree with an all-zero served table.
          expect(want.some((x) => Math.abs(x) > 1e-4)).toBe(true);
        }
      }
      expect(bundle.metadata.features.item!.table!.kind).toBe(model.item.storage.kind);
    });
  }

  it('rebuilds DSL tables from both compact index formats (bitmap and csr16), float and int8 values', () => {
    const formats = new Set<string>();
    for (const [method, d, budget] of [
      [DSL, 8, 0.5],
      ['dsl+int8', 8, 0.5],
      [DSL, 64, 0.04],
      ['dsl+int8', 64, 0.1],
    ] as const) {
      const e = createFeatureEmbedding(
        method,
        { numIds: 400 },
        { dim: d, budgetBytes: budget * 400 * d * 4, seed: 3, totalSteps: 10 },
      );
      const bundle = exportFeatureEmbeddings({ f: e });
      formats.add(String(e.storage.params.format));
      const ids = Int32Array.from({ length: 400 }, (_, k) => k);
      const want = new Float32Array(400 * d);
      e.lookup(ids, want);
      const got = reconstructEmbeddings(bundle, 'f', ids);
      let worst = 0;
      for (let k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(want[k]! - got[k]!));
      expect(worst, `${method} d ${d}`).toBeLessThan(1e-6);
      expect(want.some((x) => x !== 0)).toBe(true);
    }
    expect([...formats].sort()).toEqual(['bitmap', 'csr16']);
  });

  it('rejects a feature name that cannot prefix tensor and file names', () => {
    const model = trainMf(data, { user: 'full', item: 'full' }, { dim, budget: 1, epochs: 1 });
    expect(() => exportFeatureEmbeddings({ 'a/b': model.user })).toThrow(/feature name 'a\/b'/);
  });
});

describe('importTable', () => {
  const rows = 5;
  const values = Float32Array.from({ length: rows * dim }, (_, k) => Math.sin(k));
  const file = join(dir, 'table.safetensors');
  writeFileSync(
    file,
    encodeSafetensors({ emb: tensor('F32', [rows, dim], values), ids: tensor('I32', [rows], new Int32Array(rows)) }),
  );

  it('imports a frozen table: lookups return the file rows and gradients are refused', async () => {
    const e = await importTable(file);
    const out = new Float32Array(rows * dim);
    e.lookup(Int32Array.from([0, 1, 2, 3, 4]), out);
    expect(Array.from(out)).toEqual(Array.from(values));
    expect(() => e.backward(Int32Array.from([0, 1, 2, 3, 4]), out)).toThrow(UsageError);
  });

  it('imports a trainable table that moves under a gradient step', async () => {
    const e = await importTable(file, { tensor: 'emb', trainable: true, optimizer: { lr: 0.1 } });
    const ids = Int32Array.from([2]);
    const out = new Float32Array(dim);
    e.lookup(ids, out);
    expect(Array.from(out)).toEqual(Array.from(values.subarray(2 * dim, 3 * dim)));
    e.backward(ids, new Float32Array(dim).fill(1));
    e.step();
    e.lookup(ids, out);
    for (let c = 0; c < dim; c++) expect(out[c]!).toBeCloseTo(values[2 * dim + c]! - 0.1, 4);
  });

  it('names the tensors when the choice is ambiguous or the named tensor is not a table', async () => {
    const two = join(dir, 'two.safetensors');
    writeFileSync(
      two,
      encodeSafetensors({
        a: tensor('F32', [2, 2], new Float32Array(4)),
        b: tensor('F32', [2, 2], new Float32Array(4)),
      }),
    );
    await expect(importTable(two)).rejects.toThrow(/2 2-D float tensors \(a, b\)/);
    await expect(importTable(file, { tensor: 'ids' })).rejects.toThrow(/'ids'.*I32 \[5\]/);
    await expect(importTable(file, { tensor: 'nope' })).rejects.toThrow(/no tensor 'nope'; it has emb, ids/);
  });
});
