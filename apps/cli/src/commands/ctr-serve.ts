/**
 * `compactrec ctr serve` (the online CTR-prediction service) and `compactrec ctr predict` (batch
 * scoring), plus the model-directory writer `ctr train --out` uses for sequence models.
 */

import { isLoopbackHost, readTlsFiles, readTokenFile } from '@compactrec/bse-stream';
import { InvalidArgumentError } from '@compactrec/core';
import {
  CTR_DATA_FORMATS,
  type CtrDataFormat,
  type FieldVocabulary,
  type SaveableSequenceModel,
  saveSequenceCtrModel,
} from '@compactrec/ctr';
import { DEFAULT_CTR_SERVER_OPTIONS, predictCtrApp, startCtrServer } from '@compactrec/ctr-app';
import type { TfPreference } from '@compactrec/tf-backend';
import type { Command } from '../args.js';
import { untilStopSignal } from '../signals.js';

/**
 * Writes a trained sequence model to `out` (see `saveSequenceCtrModel`): the model directory `ctr serve`
 * loads, with `bse/<version>.sdim` for `bse serve --model-dir <out>/bse` when the model is SDIM.
 */
export async function writeSequenceModelDir(
  seq: SaveableSequenceModel,
  out: string,
  extras: {
    data?: Readonly<Record<string, unknown>>;
    training?: Readonly<Record<string, unknown>>;
    vocabulary?: FieldVocabulary;
  },
): Promise<string[]> {
  const { files, bseVersion } = await saveSequenceCtrModel(seq, out, extras);
  process.stderr.write(
    `[ctr] wrote ${out} (${seq.kind}, version ${bseVersion})${seq.kind === 'sdim' ? `; its BSE encoder: compactrec bse serve --model-dir ${out}/bse --window-length ${seq.block.maxLength}` : ''}\n`,
  );
  return files;
}

/** `compactrec ctr serve`. */
export const ctrServeCommand: Command = {
  name: 'ctr serve',
  summary: 'Serve click probabilities of a sequence model directory over HTTP, with user states from the BSE encoder',
  options: [
    { name: 'model-dir', type: 'string', required: true, description: "Sequence model directory ('ctr train --out')" },
    {
      name: 'bse-state-dir',
      type: 'string',
      description: "The BSE encoder's --state-dir, read directly (co-located; windows and states)",
    },
    {
      name: 'bse-url',
      type: 'string',
      description: "The BSE encoder's HTTP API, e.g. http://127.0.0.1:8080 (requests then carry recentItems)",
    },
    {
      name: 'host',
      type: 'string',
      default: DEFAULT_CTR_SERVER_OPTIONS.host,
      description: 'HTTP interface (loopback only by default; another host needs --auth-token-file)',
    },
    {
      name: 'auth-token-file',
      type: 'string',
      description: 'File whose first line is the bearer token required on every route except /healthz',
    },
    { name: 'tls-cert', type: 'string', description: 'PEM certificate: serve HTTPS (with --tls-key)' },
    { name: 'tls-key', type: 'string', description: 'PEM private key of --tls-cert' },
    {
      name: 'bse-auth-token-file',
      type: 'string',
      description: "File with the BSE service's bearer token (--bse-url with bse serve --auth-token-file)",
    },
    {
      name: 'body-limit-kib',
      type: 'int',
      default: DEFAULT_CTR_SERVER_OPTIONS.bodyLimit / 1024,
      min: 1,
      description: 'Largest request body, KiB (more: 413)',
    },
    {
      name: 'port',
      type: 'int',
      default: DEFAULT_CTR_SERVER_OPTIONS.port,
      min: 0,
      max: 65535,
      description: 'HTTP port (0 = any free port)',
    },
    {
      name: 'max-candidates',
      type: 'int',
      default: DEFAULT_CTR_SERVER_OPTIONS.maxCandidates,
      min: 1,
      description: 'Most candidates per request (more: 413)',
    },
    {
      name: 'on-version-mismatch',
      type: 'string',
      default: DEFAULT_CTR_SERVER_OPTIONS.onVersionMismatch,
      choices: ['error', 'window'],
      description:
        "A user's BSE state of another model version: error = 409, window = score the raw window (--bse-state-dir only)",
    },
    {
      name: 'user-prefix',
      type: 'string',
      default: '',
      description: "The encoder's user ids are <prefix><user id of the model> (bse produce writes u0, u1, ...: use u)",
    },
    {
      name: 'backend',
      type: 'string',
      default: 'auto',
      choices: ['auto', 'native', 'wasm', 'cpu'],
      description: 'TensorFlow.js backend',
    },
  ],
  details: [
    'HTTP: POST /v1/predict {"userId": "42", "candidates": [{"itemId": 7}, ...]} -> {"version", "kind", "path", "probabilities": [...]}',
    '      GET /healthz, GET /readyz, GET /metrics (Prometheus), POST /admin/reload {"modelDir"?: "..."} (atomic switch).',
    'Paths: bse (SDIM reads the user state buckets), window (raw behaviour window), cold-start (no state: empty history).',
    'Example: compactrec ctr serve --model-dir models/sdim --bse-state-dir state --port 8090',
  ].join('\n'),
  async run(a) {
    const where = 'compactrec ctr serve';
    const tokenFile = a['auth-token-file'] as string | undefined;
    const authToken = tokenFile === undefined ? undefined : readTokenFile(tokenFile, where);
    if (authToken === undefined && !isLoopbackHost(a.host as string)) {
      throw new InvalidArgumentError(
        `${where}: --host ${String(a.host)} exposes predictions beyond this machine; pass --auth-token-file too (closed by default)`,
      );
    }
    const tls = readTlsFiles(a['tls-cert'] as string | undefined, a['tls-key'] as string | undefined, where);
    const bseTokenFile = a['bse-auth-token-file'] as string | undefined;
    const server = await startCtrServer({
      ...(authToken !== undefined ? { authToken } : {}),
      ...(tls ? { tls } : {}),
      ...(bseTokenFile !== undefined ? { bseAuthToken: readTokenFile(bseTokenFile, where) } : {}),
      bodyLimit: (a['body-limit-kib'] as number) * 1024,
      modelDir: a['model-dir'] as string,
      ...(a['bse-state-dir'] !== undefined ? { bseStateDir: a['bse-state-dir'] as string } : {}),
      ...(a['bse-url'] !== undefined ? { bseUrl: a['bse-url'] as string } : {}),
      host: a.host as string,
      port: a.port as number,
      maxCandidates: a['max-candidates'] as number,
      onVersionMismatch: a['on-version-mismatch'] as 'error' | 'window',
      userPrefix: a['user-prefix'] as string,
      backend: a.backend as TfPreference,
    });
    process.stdout.write(`ctr: serving ${server.version()} on ${server.url}; Ctrl-C to stop\n`);
    await untilStopSignal();
    process.stdout.write('ctr: stopping (finishing in-flight requests)\n');
    await server.close();
    return 0;
  },
};

/** `compactrec ctr predict`. */
export const ctrPredictCommand: Command = {
  name: 'ctr predict',
  summary: 'Batch-score a data split with a model directory (plain or sequence) into a CSV, with progress',
  options: [
    { name: 'model-dir', type: 'string', required: true, description: "Model directory ('ctr train --out')" },
    { name: 'data', type: 'string', description: 'Data path or spec (default: what the model was trained on)' },
    {
      name: 'format',
      type: 'string',
      choices: [...CTR_DATA_FORMATS],
      description: "Data format (default: the model's)",
    },
    {
      name: 'split',
      type: 'string',
      default: 'test',
      choices: ['train', 'valid', 'test'],
      description: 'Part of the seeded split to score',
    },
    {
      name: 'out',
      type: 'string',
      required: true,
      description: 'CSV to write (row, [user_id, item_id, history_length,] label, probability)',
    },
    { name: 'batch', type: 'int', default: 1024, min: 1, description: 'Rows per forward' },
    {
      name: 'backend',
      type: 'string',
      default: 'auto',
      choices: ['auto', 'native', 'wasm', 'cpu'],
      description: 'TensorFlow.js backend',
    },
  ],
  details: 'Example: compactrec ctr predict --model-dir models/sdim --out preds.csv',
  async run(a) {
    const r = await predictCtrApp({
      modelDir: a['model-dir'] as string,
      out: a.out as string,
      split: a.split as 'train' | 'valid' | 'test',
      batch: a.batch as number,
      backend: a.backend as TfPreference,
      ...(a.data !== undefined ? { data: a.data as string } : {}),
      ...(a.format !== undefined ? { format: a.format as CtrDataFormat } : {}),
    });
    process.stdout.write(`${JSON.stringify({ rows: r.rows, out: r.out, seconds: r.seconds, version: r.version })}\n`);
    return 0;
  },
};
