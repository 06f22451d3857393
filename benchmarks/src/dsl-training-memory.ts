// Training memory of DSL on a LightGCN-format dataset (MF towers, d 64): the dense-masked form against the
// sparse form, read from the arrays each storage allocates (no training needed: the sizes are fixed at creation).
//   node benchmarks/dist/dsl-training-memory.js [--data DIR]
import { degrees, readLightGcnDataset } from '@compactrec/core';
import { DSL_STORAGE_NAME } from '@compactrec/dsl';
import { createFeatureEmbedding } from '@compactrec/embedding';

const args = process.argv.slice(2);
const i = args.indexOf('--data');
const dataDir =
  i >= 0 && args[i + 1] ? args[i + 1]! : new URL('../../../shared/datasets/gowalla', import.meta.url).pathname;
const data = await readLightGcnDataset(dataDir);
const deg = degrees(data.train);
const dim = 64;
const fmt = (n: number): string => n.toLocaleString('en-US');
process.stdout.write(
  `DSL training memory on ${data.name}, both tables, d ${dim}\n\n| budget | method | training | nnz | embeddingBytes | optimizerBytes | trainingBytes | optimizer + training |\n| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |\n`,
);
for (const budget of [0.5, 0.3, 0.1]) {
  for (const method of [DSL_STORAGE_NAME, `${DSL_STORAGE_NAME}+int8`]) {
    for (const dslTraining of ['dense', 'sparse']) {
      let opt = 0;
      let tr = 0;
      let emb = 0;
      let nnz = 0;
      for (const side of ['user', 'item'] as const) {
        const numIds = side === 'user' ? data.train.numUsers : data.train.numItems;
        const e = createFeatureEmbedding(
          method,
          { numIds, counts: side === 'user' ? deg.users : deg.items },
          {
            dim,
            budgetBytes: Math.floor(budget * numIds * dim * 4),
            seed: 1,
            totalSteps: 59_400,
            storageExtra: { dslTraining },
          },
        );
        opt += e.optimizerBytes;
        tr += e.trainingBytes;
        emb += e.embeddingBytes;
        nnz += Number(e.storage.params.nnz);
      }
      process.stdout.write(
        `| ${budget} | ${method} | ${dslTraining} | ${fmt(nnz)} | ${fmt(emb)} | ${fmt(opt)} | ${fmt(tr)} | ${fmt(opt + tr)} |\n`,
      );
    }
  }
}
