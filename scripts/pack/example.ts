// Fit GraphHash on a small user–item graph, map IDs, train a few epochs of MF-BPR, and save/load a table.
import { writeFile } from 'node:fs/promises';
import { degrees, generateRetrievalDataset, type MapperFitData } from '@compactrec/core';
import { GRAPHHASH_METHODS } from '@compactrec/graphhash';
import { encodeSafetensors, importTable, tensor } from '@compactrec/interop';
import { Tower, trainMfBpr } from '@compactrec/models';
import { kernelInfo } from '@compactrec/native';

const data = generateRetrievalDataset({ numUsers: 1000, numItems: 1500, communities: 10, meanDegree: 12, seed: 1 });
const dim = 32;
const deg = degrees(data.train);
const fit = (side: 'user' | 'item'): MapperFitData => ({
  numIds: side === 'user' ? data.train.numUsers : data.train.numItems,
  counts: side === 'user' ? deg.users : deg.items,
  interactions: data.train,
  side,
});

// 1. GraphHash: IDs of one Louvain cluster share a row; the table is 25 % of the full float32 one.
const graphhash = GRAPHHASH_METHODS.graphhash!;
const userMapper = graphhash.create(fit('user'), { dim, budgetBytes: 0.25 * data.train.numUsers * dim * 4, seed: 0 });
const itemMapper = graphhash.create(fit('item'), { dim, budgetBytes: 0.25 * data.train.numItems * dim * 4, seed: 0 });

// 2. Map IDs to rows.
const rows = new Int32Array(3 * itemMapper.codesPerId);
itemMapper.mapInto([0, 1, 2], rows);

// 3. A few epochs of MF with BPR on the compressed tables (native kernels when built).
const user = new Tower(userMapper, dim, { seed: 1 });
const item = new Tower(itemMapper, dim, { seed: 2 });
const result = trainMfBpr(data, user, item, { epochs: 5, lr: 0.01 });

// 4. Save the item table as safetensors (PyTorch/NumPy read it) and load it back, frozen.
await writeFile(
  'items.safetensors',
  encodeSafetensors({ items: tensor('F32', [item.table.rows, item.table.dim], item.table.data) }),
);
const loaded = await importTable('items.safetensors');
const row = new Float32Array(dim);
loaded.lookup([rows[0]!], row);

console.log(
  JSON.stringify({
    kernels: kernelInfo().kind,
    itemRows: itemMapper.rows,
    numItems: itemMapper.numIds,
    firstRows: Array.from(rows),
    losses: result.losses,
    recall: result.final.recall,
    rowMatches: row.every((x, c) => x === item.table.data[rows[0]! * dim + c]),
  }),
);
