import { rowKernelsInfo } from '@compactrec/native';
import { describe, expect, it } from 'vitest';
import { type CtrBatch, type CtrModelKind, createCtrModel, SyntheticCtr } from '../src/index.js';
import { cpuTf } from './helpers.js';

// A CTR model's embedding gather and scatter run through its storages' row kernels (C++ when
// built). Training with them must be training with the JavaScript kernels, bit for bit: same
// losses, same tables. The cpu backend keeps the dense part deterministic and identical.
const native = (() => {
  const before = process.env.COMPACTREC_KERNELS;
  delete process.env.COMPACTREC_KERNELS;
  const i = rowKernelsInfo();
  if (before !== undefined) process.env.COMPACTREC_KERNELS = before;
  return i;
})();
const NO_ADDON = native.kind === 'native' ? '' : ` (skipped: ${native.reason})`;

const DATA = new SyntheticCtr({ fields: 6, cardinality: 300, trainRows: 1024, validRows: 8, testRows: 8, seed: 8 });
const OPTIONS = { dim: 8, mlp: [24, 12], lr: 0.02, seed: 4, method: 'full', budget: 1, keepFullBelow: 0 } as const;

async function batches(n: number, size: number): Promise<CtrBatch[]> {
  const out: CtrBatch[] = [];
  for await (const b of DATA.train.batches({ batchSize: size, shuffleSeed: 2 })) {
    out.push({ size: b.size, ids: b.ids.slice(), labels: b.labels.slice(), dense: b.dense ? b.dense.slice() : null });
    if (out.length === n) break;
  }
  return out;
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

describe('CTR training on the C++ row kernels', () => {
  for (const [kind, method] of [
    ['deepfm', 'full'],
    ['dnn', 'full'],
    ['deepfm', 'double'], // K = 2 rows summed: the composed lookup (gatherCombined), first-order tables too
    ['dnn', 'qr'], // K = 2 rows multiplied: composed lookup keeping the rows, batch mult scatter (multGradRows)
  ] as const satisfies readonly (readonly [CtrModelKind, string])[]) {
    const label = method === 'full' ? kind : `${kind} (${method})`;
    it.skipIf(native.kind !== 'native')(
      `${label}: losses and every field and first-order table are bit-identical to the JavaScript row kernels after 5 steps${NO_ADDON}`,
      async () => {
        const tf = await cpuTf();
        const bs = await batches(5, 128);
        const run = (kernels: 'native' | 'js') => {
          const before = process.env.COMPACTREC_KERNELS;
          if (kernels === 'js') process.env.COMPACTREC_KERNELS = 'js';
          else delete process.env.COMPACTREC_KERNELS;
          try {
            const model = createCtrModel(tf, DATA.schema, {
              ...OPTIONS,
              model: kind,
              method,
              ...(method === 'full' ? {} : { budget: 0.25 }),
            });
            if (method !== 'full') expect(model.fields[0]!.mapper.codesPerId).toBe(2);
            const init = model.fields[0]!.storage.trainingView()!.values.slice();
            const losses = bs.map((b) => model.trainStep(b));
            const tables = [...model.fields, ...model.firstOrder].map((e) => e.storage.trainingView()!.values.slice());
            const moments = model.fields.map((e) => e.storage.trainingView()!.v.slice());
            model.dispose();
            return { init, losses, tables, moments };
          } finally {
            if (before === undefined) delete process.env.COMPACTREC_KERNELS;
            else process.env.COMPACTREC_KERNELS = before;
          }
        };
        const a = run('native');
        const b = run('js');
        expect(a.losses).toEqual(b.losses);
        expect(a.tables.length).toBe(kind === 'deepfm' ? 12 : 6);
        for (let t = 0; t < a.tables.length; t++) expect(bits(a.tables[t]!), `table ${t}`).toEqual(bits(b.tables[t]!));
        for (let t = 0; t < a.moments.length; t++) expect(bits(a.moments[t]!), `v ${t}`).toEqual(bits(b.moments[t]!));
        // Training moved the rows (agreeing is not trivial).
        let moved = 0;
        for (let i = 0; i < a.init.length; i++) moved = Math.max(moved, Math.abs(a.init[i]! - a.tables[0]![i]!));
        expect(moved).toBeGreaterThan(1e-3);
      },
    );
  }
});
