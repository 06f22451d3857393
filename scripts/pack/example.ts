// Fit GraphHash on a small user–item graph, map IDs, train a few epochs of MF-BPR, save/load the tables.
import { degrees, generateRetrievalDataset, type MapperFitData } from '@compactrec/core';
import { createFeatureEmbedding, loadFeatureEmbeddings, saveFeatureEmbeddings } from '@compactrec/embedding';
import { exportFeatureEmbeddings, writeExport } from '@compactrec/interop';
import { Tower, trainMfBpr } from '@compactrec/models';
import { kernelInfo } from '@compactrec/native';

const data = generateRetrievalDataset({ numUsers: 1000, numItems: 1500, communities: 10, meanDegree: 12, seed: 1 });
const dim = 32;
const deg = degrees(data.train);
const fitData = (side: 'user' | 'item'): MapperFitData => ({
  numIds: side === 'user' ? data.train.numUsers : data.train.numItems,
  counts: side === 'user' ? deg.users : deg.items,
  interactions: data.train,
  side,
});

// 1. GraphHash: IDs of one Louvain cluster share a row; each table is 25 % of the full float32 one.
// (Compose a storage kind by name for smaller rows: 'graphhash+int8'.)
const embed = (side: 'user' | 'item') =>
  createFeatureEmbedding('graphhash', fitData(side), {
    dim,
    budgetBytes: 0.25 * fitData(side).numIds * dim * 4,
    seed: 0,
  });
const user = embed('user');
const item = embed('item');

// 2. Map IDs to rows.
const rows = new Int32Array(3 * item.mapper.codesPerId);
item.mapper.mapInto([0, 1, 2], rows);

// 3. A few epochs of MF with BPR on the compressed tables (native kernels when built).
const result = trainMfBpr(data, new Tower(user), new Tower(item), { epochs: 5, lr: 0.01 });

// 4. Save the tables (serving form) and load them back; export them for PyTorch / NumPy.
await saveFeatureEmbeddings('embeddings.ckpt', { user, item });
const loaded = await loadFeatureEmbeddings('embeddings.ckpt');
await writeExport(exportFeatureEmbeddings(loaded), 'embeddings.safetensors', 'safetensors');
const before = new Float32Array(dim);
const after = new Float32Array(dim);
item.lookup([0], before);
loaded.item!.lookup([0], after);

console.log(
  JSON.stringify({
    kernels: kernelInfo().kind,
    itemRows: item.mapper.rows,
    numItems: item.numIds,
    firstRows: Array.from(rows),
    losses: result.losses,
    recall: result.final.recall,
    rowMatches: after.every((x, c) => x === before[c]),
  }),
);
