import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createSequenceCtrModel,
  openCtrData,
  SEQUENCE_EXTRAS,
  saveSequenceCtrModel,
  sequenceItemCounts,
  trainCtr,
} from '@compactrec/ctr';
import { encodeBse } from '@compactrec/sdim';
import { initTf } from '@compactrec/tf-backend';
import { afterAll, describe, expect, it } from 'vitest';
import { SequencePredictor } from '../src/app.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('serving a compressed item table', () => {
  it('an SDIM model with a double-frequency+int8 item table serves int8 rows; its bse path equals the offline model, and no state means cold start', async () => {
    const { tf } = await initTf({ prefer: 'cpu', quiet: true });
    const data = await openCtrData('seq-synthetic', 'users=40,items=80,clusters=5,length=16,perUser=5,dim=8');
    const itemCounts = await sequenceItemCounts(data.train, data.sequence!.numItems);
    const seq = createSequenceCtrModel(
      tf,
      data,
      { model: 'sdim', method: 'double-frequency+int8', budget: 0.4, dim: 8, mlp: [16], numHashes: 12, seed: 2 },
      { counts: data.counts(), itemCounts },
    );
    await trainCtr(seq.model, { train: data.train, valid: data.valid }, { epochs: 1, batchSize: 32, seed: 1 });
    const dir = await mkdtemp(join(tmpdir(), 'ctr-serve-compressed-'));
    dirs.push(dir);
    await saveSequenceCtrModel(seq, dir, { data: data.descriptor });
    const p = await SequencePredictor.open(tf, dir);
    try {
      const items = p.loaded.block.items;
      expect(items.storage.kind).toBe('int8');
      expect(items.mapper.rows).toBeLessThan(data.sequence!.numItems + 1);
      const bm = p.loaded.bseModel!;
      const d = bm.dim;
      const L = seq.block.maxLength;
      const candidates = Int32Array.from([3, 17, 42, 80, 5]);
      const n = candidates.length;
      for (const len of [4, L]) {
        const window = Int32Array.from({ length: len }, (_, j) => 1 + ((j * 13 + 7) % 80));
        const histories = new Int32Array(n * L);
        for (let i = 0; i < n; i++) histories.set(window, i * L);
        const offline = seq.model.predict({
          size: n,
          ids: new Int32Array(n).fill(1),
          labels: new Float32Array(n),
          dense: null,
          extras: {
            [SEQUENCE_EXTRAS.candidates]: candidates,
            [SEQUENCE_EXTRAS.histories]: histories,
            [SEQUENCE_EXTRAS.lengths]: new Int32Array(n).fill(len),
          },
        });
        const keys = new Float32Array(len * d);
        for (let j = 0; j < len; j++) keys.set(bm.itemEmbeddings.subarray(window[j]! * d, window[j]! * d + d), j * d);
        const bse = encodeBse(bm.hasher, keys, len, p.version);
        const served = p.predict({ userField: 1, candidates }, { bse, window }, 'error');
        expect(served.path).toBe('bse');
        const noState = p.predict({ userField: 1, candidates }, { bse: null, window }, 'error');
        expect(noState.path).toBe('cold-start');
        let worst = 0;
        for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(served.probabilities[i]! - offline[i]!));
        expect(worst).toBeLessThan(1e-5);
        expect(new Set(Array.from(offline)).size).toBeGreaterThan(1); // candidates differ: the check is not vacuous
      }
    } finally {
      p.dispose();
      seq.model.dispose();
    }
  });
});
