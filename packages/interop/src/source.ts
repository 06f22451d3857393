/**
 * What `compactrec export --from` reads: a feature-embeddings checkpoint, a GraphHash mapping
 * (`compactrec cluster --out`), or a model directory holding a feature-embeddings checkpoint.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Checkpoint, NotFoundError, readCheckpoint, UsageError } from '@compactrec/core';
import { EMBEDDING_CHECKPOINT_KIND, loadFeatureEmbeddings } from '@compactrec/embedding';
import { CLUSTERING_CHECKPOINT_KIND, loadClustering } from '@compactrec/graphhash';
import { type ExportBundle, exportClustering, exportFeatureEmbeddings } from './export.js';

/** Checkpoint kinds {@link exportFrom} reads. */
export const EXPORTABLE_KINDS = [EMBEDDING_CHECKPOINT_KIND, CLUSTERING_CHECKPOINT_KIND] as const;

async function kindOf(path: string): Promise<string> {
  let ck: Checkpoint;
  try {
    ck = await readCheckpoint(path);
  } catch (err) {
    throw new UsageError(
      `interop/exportFrom: ${path} is not a CompactRec checkpoint (${(err as Error).message}); give a feature-embeddings checkpoint, a graphhash mapping or a model directory`,
      { cause: err },
    );
  }
  return ck.kind;
}

/** The export of `path` (file or model directory); the error of an unreadable source says what it accepts. */
export async function exportFrom(path: string): Promise<ExportBundle> {
  let s: Awaited<ReturnType<typeof stat>>;
  try {
    s = await stat(path);
  } catch (err) {
    throw new NotFoundError(`interop/exportFrom: ${path} does not exist`, { cause: err });
  }
  let file = path;
  if (s.isDirectory()) {
    const found: string[] = [];
    for (const f of (await readdir(path)).sort()) {
      if (!f.endsWith('.ckpt') && !f.endsWith('.bin')) continue;
      try {
        if ((await kindOf(join(path, f))) === EMBEDDING_CHECKPOINT_KIND) found.push(f);
      } catch {
        // Not a checkpoint: not ours to export.
      }
    }
    if (found.length !== 1) {
      throw new UsageError(
        `interop/exportFrom: model directory ${path} has ${found.length === 0 ? 'no' : `${found.length}`} ${EMBEDDING_CHECKPOINT_KIND} checkpoints${found.length > 1 ? ` (${found.join(', ')}); give one file` : ' (*.ckpt written by saveFeatureEmbeddings)'}`,
      );
    }
    file = join(path, found[0]!);
  }
  const kind = await kindOf(file);
  if (kind === EMBEDDING_CHECKPOINT_KIND) return exportFeatureEmbeddings(await loadFeatureEmbeddings(file));
  if (kind === CLUSTERING_CHECKPOINT_KIND) return exportClustering(await loadClustering(file));
  throw new UsageError(
    `interop/exportFrom: ${file} is a '${kind}' checkpoint; export reads ${EXPORTABLE_KINDS.join(', ')} (or a model directory holding one)`,
  );
}
