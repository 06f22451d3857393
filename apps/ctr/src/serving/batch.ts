/**
 * `compactrec ctr predict`: batch scoring of a data split with a model directory (plain or sequence),
 * for offline pipelines. Writes a CSV (atomically: a temp file renamed at the end) and logs progress
 * with an ETA.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { InvalidArgumentError } from '@compactrec/core';
import {
  type CtrDataFormat,
  type CtrModel,
  loadCtrModel,
  loadSequenceCtrModel,
  openCtrData,
  readCtrModelConfig,
  SEQUENCE_EXTRAS,
} from '@compactrec/ctr';
import { initTf, type TfPreference } from '@compactrec/tf-backend';

/** Options of {@link predictCtrApp}. */
export interface CtrPredictAppOptions {
  readonly modelDir: string;
  /** Data path or spec; unset = what the model was trained on. */
  readonly data?: string;
  /** Data format; unset = the model's. */
  readonly format?: CtrDataFormat;
  /** Part of the seeded split to score. @default 'test' */
  readonly split?: 'train' | 'valid' | 'test';
  /** CSV to write. */
  readonly out: string;
  /** Rows per forward. @default 1024 */
  readonly batch?: number;
  readonly backend?: TfPreference;
  /** Progress lines. @default stderr */
  readonly log?: (line: string) => void;
  /** Seconds between progress lines. @default 2 */
  readonly progressEverySeconds?: number;
}

/** What {@link predictCtrApp} wrote. */
export interface CtrPredictAppResult {
  readonly rows: number;
  readonly out: string;
  readonly seconds: number;
  readonly version: string | null;
}

/**
 * Scores every row of the chosen split and writes `row,label,probability` (sequence models also
 * `user_id,item_id,history_length`), encoding the data as at training time.
 */
export async function predictCtrApp(o: CtrPredictAppOptions): Promise<CtrPredictAppResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const batchSize = o.batch ?? 1024;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError(`ctr-app/predictCtrApp: batch (${batchSize}) must be a positive integer`);
  }
  const rt = await initTf({ prefer: o.backend ?? 'auto', quiet: true });
  const config = await readCtrModelConfig(o.modelDir);
  let model: CtrModel;
  let version: string | null = null;
  let vocabulary = null;
  if (config.sequence !== undefined) {
    const l = await loadSequenceCtrModel(rt.tf, o.modelDir);
    model = l.model;
    version = l.section.bseVersion;
  } else {
    const l = await loadCtrModel(rt.tf, o.modelDir);
    model = l.model;
    vocabulary = l.vocabulary;
  }
  const tmp = `${o.out}.tmp-${process.pid}`;
  try {
    const saved = config.data ?? {};
    const format = o.format ?? (saved.format as CtrDataFormat | undefined);
    const path = o.data ?? (saved.path as string | undefined);
    if (!format || path === undefined) {
      throw new InvalidArgumentError(
        `ctr-app/predictCtrApp: '${o.modelDir}' records no data; pass --data and --format`,
      );
    }
    const data = await openCtrData(format, path, {
      saved: format === saved.format ? saved : {},
      ...(vocabulary ? { vocabulary } : {}),
    });
    const source = data[o.split ?? 'test'];
    const total = source.numSamples;
    const seq = config.sequence !== undefined;
    const out = createWriteStream(tmp);
    const write = (s: string): Promise<void> =>
      new Promise((resolve, reject) => {
        if (out.write(s)) resolve();
        else out.once('drain', resolve).once('error', reject);
      });
    await write(seq ? 'row,user_id,item_id,history_length,label,probability\n' : 'row,label,probability\n');
    const t0 = performance.now();
    let last = t0;
    let rows = 0;
    const every = (o.progressEverySeconds ?? 2) * 1000;
    for await (const b of source.batches({ batchSize })) {
      const p = model.predict(b);
      const cands = b.extras?.[SEQUENCE_EXTRAS.candidates];
      const lens = b.extras?.[SEQUENCE_EXTRAS.lengths];
      const F = model.numFields;
      let chunk = '';
      for (let i = 0; i < b.size; i++) {
        chunk += seq
          ? `${rows + i},${b.ids[i * F]},${cands![i]},${lens![i]},${b.labels[i]},${p[i]}\n`
          : `${rows + i},${b.labels[i]},${p[i]}\n`;
      }
      await write(chunk);
      rows += b.size;
      const now = performance.now();
      if (now - last >= every) {
        last = now;
        const rate = rows / ((now - t0) / 1000);
        const eta = total ? `, ETA ${((total - rows) / rate).toFixed(1)} s` : '';
        log(
          `[ctr predict] ${rows}${total ? `/${total} rows (${((100 * rows) / total).toFixed(1)}%)` : ' rows'}, ${Math.round(rate)} rows/s${eta}`,
        );
      }
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    await rename(tmp, o.out);
    const seconds = (performance.now() - t0) / 1000;
    log(`[ctr predict] ${rows} rows -> ${o.out} in ${seconds.toFixed(1)} s (${rt.backend})`);
    return { rows, out: o.out, seconds, version };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    model.dispose();
  }
}
