import { EXPORT_FILE_FORMATS, type ExportFileFormat, exportFrom, writeExport } from '@compactrec/interop';
import type { Command } from '../args.js';

/**
 * `compactrec export`: a model's embeddings (mapping + table, in its storage layout) or a GraphHash
 * mapping as safetensors or NumPy files, with JSON metadata saying how to rebuild each embedding.
 */
export const exportCommand: Command = {
  name: 'export',
  summary: 'Export embeddings or a GraphHash mapping as safetensors / NumPy .npy for other tools (PyTorch, NumPy)',
  options: [
    {
      name: 'from',
      type: 'string',
      required: true,
      description:
        'A feature-embeddings checkpoint, a model directory holding one, or a graphhash mapping (compactrec cluster --out)',
    },
    {
      name: 'format',
      type: 'string',
      default: 'safetensors',
      choices: EXPORT_FILE_FORMATS,
      description: 'safetensors: one file; npy: a folder of <tensor>.npy files plus metadata.json',
    },
    { name: 'out', type: 'string', required: true, description: 'Output file (safetensors) or folder (npy)' },
  ],
  details:
    'Per feature f: f.mapping.codes [numIds, K] (rows of each ID, -1 = none), f.mapping.weights [numIds, K], and\n' +
    "f.table.* in the storage's layout (dense values; row-wise codes + scale + bias; ALPT codes + step; CSR indptr +\n" +
    'indices + values or codes). The metadata (safetensors __metadata__["compactrec"], or metadata.json) says how\n' +
    'to rebuild a row and how rows combine. packages/interop/python/reconstruct.py rebuilds them with NumPy.\n' +
    'Example:\n  compactrec export --from results/model/embeddings.ckpt --format safetensors --out model.safetensors\n' +
    '  compactrec export --from results/gowalla-graphhash.bin --format npy --out gowalla-mapping',
  async run(a) {
    const from = a.from as string;
    const out = a.out as string;
    const bundle = await exportFrom(from);
    const files = await writeExport(bundle, out, a.format as ExportFileFormat);
    const lines: string[] = [];
    for (const [name, f] of Object.entries(bundle.metadata.features)) {
      const t = f.table;
      lines.push(
        `${name.padEnd(10)} ${f.method.padEnd(24)} ${f.mapping.numIds} IDs → ${f.mapping.rows} rows (K ${f.mapping.codesPerId}, ${f.mapping.combine})` +
          (t
            ? `; table ${t.kind} as ${t.layout}${t.bits ? ` ${t.bits}-bit` : ''} [${t.rows} × ${t.rowDim}]`
            : '; mapping only'),
      );
    }
    const bytes = Object.values(bundle.tensors).reduce((s, t) => s + t.data.byteLength, 0);
    lines.push(
      `wrote      ${files.length === 1 ? files[0] : `${files.length} files in ${out}`} (${bytes} bytes of tensors)`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  },
};
