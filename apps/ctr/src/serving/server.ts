/**
 * `compactrec ctr serve`: the online CTR-prediction service (fastify) over a sequence model directory
 * and the streaming BSE encoder's user states.
 *
 *   POST /v1/predict    {userId, candidates: [{itemId}], recentItems?, context?}
 *                       → {version, kind, path, probabilities: [...]} (one per candidate, in order)
 *   GET  /healthz       200 while the process serves a model (liveness)
 *   GET  /readyz        200 when a model is loaded and the BSE state source answers, else 503
 *   GET  /metrics       Prometheus text (prom-client): requests, latency histogram, errors by reason,
 *                       model version, predictions by path, reloads
 *   POST /admin/reload  {modelDir?} loads a model directory beside the current one and switches
 *                       atomically; requests already running finish on the old model; a directory that
 *                       does not load is rejected (422, with the reason) and the old model keeps serving
 *
 * With `authToken`, every route except /healthz needs `Authorization: Bearer <token>` (401 otherwise;
 * the same rule and code as the BSE service); with `tls` it serves HTTPS.
 *
 * Bad input is always a 4xx with `{error: <reason>, message: <one line>}` and counted in
 * `ctr_request_errors_total{reason}`; a 5xx means a bug or an unreachable BSE service, never bad input.
 */
import { bearerChecker, isOpenRoute, type TlsFiles } from '@compactrec/bse-stream';
import { InvalidArgumentError } from '@compactrec/core';
import { initTf, type Tf, type TfPreference } from '@compactrec/tf-backend';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type PredictInput, RequestError, SequencePredictor, type VersionMismatchPolicy } from './predictor.js';
import { HttpUserStates, StoreUserStates, type UserStateSource } from './user-state.js';

/** Options of {@link startCtrServer}; `modelDir` and one of `bseStateDir` / `bseUrl` are required. */
export interface CtrServerOptions {
  /** Sequence model directory (`ctr train --out`). */
  modelDir: string;
  /** The encoder's `--state-dir`, read directly (co-located; gives windows and states). */
  bseStateDir?: string;
  /** The encoder's base URL (its HTTP batch API; requests then carry `recentItems`). */
  bseUrl?: string;
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port; 0 picks a free one. @default 8090 */
  port?: number;
  /** Most candidates per request; more is a 413. @default 1000 */
  maxCandidates?: number;
  /** Largest request body, bytes; more is a 413. @default 1048576 */
  bodyLimit?: number;
  /** A user's BSE state of another model version: `'error'` (409) or `'window'` (score the raw window; store only). @default 'error' */
  onVersionMismatch?: VersionMismatchPolicy;
  /**
   * The encoder's user ids are `<userPrefix><user-id field value>` (e.g. `u42` with `'u'`, what
   * `bse produce` writes); ids without the prefix are a 422 `unknown_user`. @default ''
   */
  userPrefix?: string;
  /**
   * Bearer token required on every route except /healthz (constant-time compare; 401 otherwise).
   * @default none (only sensible on loopback)
   */
  authToken?: string;
  /** Serve HTTPS with this certificate and key (PEM). @default plain HTTP */
  tls?: TlsFiles;
  /** Token sent to the BSE service (`--bse-url`) when it requires one. @default none */
  bseAuthToken?: string;
  /** tfjs backend. @default 'auto' */
  backend?: TfPreference;
  /** Log lines. @default stderr */
  log?: (line: string) => void;
}

/** Defaults of {@link CtrServerOptions}. */
export const DEFAULT_CTR_SERVER_OPTIONS = Object.freeze({
  host: '127.0.0.1',
  port: 8090,
  maxCandidates: 1000,
  bodyLimit: 1 << 20,
  onVersionMismatch: 'error' as VersionMismatchPolicy,
  userPrefix: '',
  backend: 'auto' as TfPreference,
});

/** A running server. */
export interface CtrServer {
  readonly url: string;
  readonly port: number;
  readonly app: FastifyInstance;
  /** The version currently served. */
  version(): string;
  /** Requests received and not yet answered. */
  inflight(): number;
  /** Loads `modelDir` (default: the current one) and switches to it; throws (keeping the old model) if it fails. */
  reload(modelDir?: string): Promise<{ version: string; previous: string }>;
  /** Stops listening, waits for in-flight requests, frees the model and the state source. */
  close(): Promise<void>;
}

/** The current predictor, reference-counted so a retired one is freed only after its last request. */
class ModelSlot {
  private current: SequencePredictor;
  private readonly refs = new Map<SequencePredictor, number>();
  private readonly retired = new Set<SequencePredictor>();

  constructor(p: SequencePredictor) {
    this.current = p;
  }
  get(): SequencePredictor {
    return this.current;
  }
  acquire(): SequencePredictor {
    const p = this.current;
    this.refs.set(p, (this.refs.get(p) ?? 0) + 1);
    return p;
  }
  release(p: SequencePredictor): void {
    const n = (this.refs.get(p) ?? 1) - 1;
    if (n > 0) this.refs.set(p, n);
    else {
      this.refs.delete(p);
      if (this.retired.delete(p)) p.dispose();
    }
  }
  swap(next: SequencePredictor): SequencePredictor {
    const old = this.current;
    this.current = next;
    if (this.refs.has(old)) this.retired.add(old);
    else old.dispose();
    return old;
  }
  dispose(): void {
    this.current.dispose();
    for (const p of this.retired) p.dispose();
    this.retired.clear();
  }
}

const ALLOWED_BODY_KEYS = new Set(['userId', 'candidates', 'recentItems', 'context']);

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x);
}

/** Parses and checks a /v1/predict body (see the module doc); throws {@link RequestError}. */
export function parsePredictBody(
  body: unknown,
  predictor: SequencePredictor,
  maxCandidates: number,
): { userId: string; input: Omit<PredictInput, 'userField'> } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RequestError(400, 'bad_body', 'the body must be a JSON object {"userId", "candidates": [{"itemId"}]}');
  }
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!ALLOWED_BODY_KEYS.has(k)) {
      throw new RequestError(
        400,
        'unknown_field',
        `unknown field '${k}'; allowed: ${[...ALLOWED_BODY_KEYS].join(', ')}`,
      );
    }
  }
  const u = b.userId;
  if (u === undefined) throw new RequestError(400, 'missing_field', 'userId is required');
  if (typeof u !== 'string' && !isInt(u)) {
    throw new RequestError(400, 'wrong_type', `userId must be a string or an integer; got ${JSON.stringify(u)}`);
  }
  const c = b.candidates;
  if (c === undefined) throw new RequestError(400, 'missing_field', 'candidates is required');
  if (!Array.isArray(c))
    throw new RequestError(400, 'wrong_type', 'candidates must be an array of {"itemId": integer}');
  if (c.length === 0) throw new RequestError(400, 'empty_candidates', 'candidates is empty; send at least one');
  if (c.length > maxCandidates) {
    throw new RequestError(413, 'too_many_candidates', `${c.length} candidates; at most ${maxCandidates} per request`);
  }
  const candidates = new Int32Array(c.length);
  for (let i = 0; i < c.length; i++) {
    const x = c[i] as Record<string, unknown> | null;
    if (typeof x !== 'object' || x === null || Array.isArray(x)) {
      throw new RequestError(400, 'wrong_type', `candidates[${i}] must be an object {"itemId": integer}`);
    }
    for (const k in x) {
      if (k !== 'itemId')
        throw new RequestError(400, 'unknown_field', `unknown field 'candidates[${i}].${k}'; allowed: itemId`);
    }
    const id = x.itemId;
    if (id === undefined) throw new RequestError(400, 'missing_field', `candidates[${i}].itemId is required`);
    if (!isInt(id))
      throw new RequestError(
        400,
        'wrong_type',
        `candidates[${i}].itemId must be an integer; got ${JSON.stringify(id)}`,
      );
    candidates[i] = id;
  }
  let recentItems: Int32Array | undefined;
  const r = b.recentItems;
  if (r !== undefined) {
    if (!Array.isArray(r) || !r.every(isInt)) {
      throw new RequestError(400, 'wrong_type', 'recentItems must be an array of integer item ids, oldest first');
    }
    if (r.length > predictor.maxLength) {
      throw new RequestError(413, 'too_many_recent_items', `${r.length} recentItems; at most ${predictor.maxLength}`);
    }
    recentItems = Int32Array.from(r as number[]);
  }
  let context: Record<string, number> | undefined;
  const ctx = b.context;
  const need = predictor.contextFields;
  if (ctx !== undefined) {
    if (typeof ctx !== 'object' || ctx === null || Array.isArray(ctx)) {
      throw new RequestError(400, 'wrong_type', 'context must be an object of field: integer id');
    }
    context = {};
    for (const [k, v] of Object.entries(ctx)) {
      if (!need.includes(k)) {
        throw new RequestError(
          400,
          'unknown_field',
          `unknown field 'context.${k}'; this model's context fields: ${need.join(', ') || '(none)'}`,
        );
      }
      if (!isInt(v))
        throw new RequestError(400, 'wrong_type', `context.${k} must be an integer; got ${JSON.stringify(v)}`);
      context[k] = v;
    }
  }
  for (const f of need) {
    if (context?.[f] === undefined)
      throw new RequestError(400, 'missing_field', `context.${f} is required by this model`);
  }
  return {
    userId: String(u),
    input: { candidates, ...(recentItems ? { recentItems } : {}), ...(context ? { context } : {}) },
  };
}

/** Fastify's own client errors → our reasons. */
function fastifyReason(code: string | undefined, status: number): { status: number; reason: string } {
  switch (code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, reason: 'malformed_json' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, reason: 'body_too_large' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, reason: 'unsupported_media_type' };
    default:
      if (status === 400 && code === undefined) return { status: 400, reason: 'malformed_json' };
      return { status, reason: status < 500 ? 'bad_request' : 'internal' };
  }
}

/** Starts the service (see the module doc) and returns once it listens. */
export async function startCtrServer(options: CtrServerOptions, tf?: Tf): Promise<CtrServer> {
  const where = 'ctr-app/startCtrServer';
  const o = {
    ...DEFAULT_CTR_SERVER_OPTIONS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as Required<Omit<CtrServerOptions, 'bseStateDir' | 'bseUrl' | 'log' | 'authToken' | 'tls' | 'bseAuthToken'>> &
    CtrServerOptions;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if ((o.bseStateDir === undefined) === (o.bseUrl === undefined)) {
    throw new InvalidArgumentError(
      `${where}: pass exactly one of --bse-state-dir (the encoder's store, co-located) or --bse-url (its HTTP API)`,
    );
  }
  if (!Number.isInteger(o.maxCandidates) || o.maxCandidates < 1) {
    throw new InvalidArgumentError(`${where}: maxCandidates (${o.maxCandidates}) must be a positive integer`);
  }
  if (o.onVersionMismatch !== 'error' && o.onVersionMismatch !== 'window') {
    throw new InvalidArgumentError(
      `${where}: onVersionMismatch ('${String(o.onVersionMismatch)}') must be 'error' or 'window'`,
    );
  }
  const theTf = tf ?? (await initTf({ prefer: o.backend, quiet: true })).tf;
  const first = await SequencePredictor.open(theTf, o.modelDir);
  let source: UserStateSource;
  try {
    source =
      o.bseStateDir !== undefined
        ? new StoreUserStates(o.bseStateDir, first.maxLength)
        : new HttpUserStates(o.bseUrl!, undefined, o.bseAuthToken);
    checkCompatible(first, source);
  } catch (err) {
    first.dispose();
    throw err;
  }
  await source
    .check()
    .catch((err: unknown) => log(`[ctr serve] not ready yet: ${String((err as Error).message ?? err)}`));
  const slot = new ModelSlot(first);
  let modelDir = o.modelDir;

  const registry = new Registry();
  const requests = new Counter({
    name: 'ctr_requests_total',
    help: 'HTTP requests by route and status code',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'ctr_request_duration_seconds',
    help: 'Request latency by route',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'ctr_request_errors_total',
    help: 'Requests answered with an error, by reason (bad input is 4xx)',
    labelNames: ['reason', 'status'] as const,
    registers: [registry],
  });
  const predictions = new Counter({
    name: 'ctr_predictions_total',
    help: 'Scored requests by path (bse, window, cold-start) and model version',
    labelNames: ['path', 'version'] as const,
    registers: [registry],
  });
  const candidatesScored = new Counter({
    name: 'ctr_candidates_scored_total',
    help: 'Candidates scored',
    registers: [registry],
  });
  const modelInfo = new Gauge({
    name: 'ctr_model_info',
    help: 'The served model version (value 1)',
    labelNames: ['version', 'kind'] as const,
    registers: [registry],
  });
  const reloads = new Counter({
    name: 'ctr_model_reloads_total',
    help: 'Model reloads by result',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  modelInfo.set({ version: first.version, kind: first.kind }, 1);

  const app = Fastify({
    logger: false,
    bodyLimit: o.bodyLimit,
    ...(o.tls ? { https: { cert: o.tls.cert, key: o.tls.key } } : {}),
  }) as unknown as FastifyInstance;
  const authorized = o.authToken === undefined ? undefined : bearerChecker(o.authToken);
  const started = new WeakMap<object, bigint>();
  // In-flight requests and the last arrival, for a graceful close (see close()).
  let inflight = 0;
  let lastArrival = 0;
  let closing = false;
  const open = new WeakSet<object>();
  const done = (req: object): void => {
    if (open.delete(req)) inflight--;
  };
  app.addHook('onRequest', async (req, reply) => {
    started.set(req, process.hrtime.bigint());
    open.add(req);
    inflight++;
    lastArrival = performance.now();
    if (authorized && !isOpenRoute(req.url) && !authorized(req.headers.authorization)) {
      reply.header('www-authenticate', 'Bearer');
      return fail(
        reply,
        401,
        'unauthorized',
        'this route needs the header Authorization: Bearer <token> (the token of --auth-token-file)',
      );
    }
  });
  app.addHook('onRequestAbort', async (req) => {
    done(req);
  });
  app.addHook('onResponse', async (req, reply) => {
    done(req);
    const route = req.routeOptions.url ?? 'unknown';
    requests.inc({ route, status: String(reply.statusCode) });
    const t0 = started.get(req);
    if (t0 !== undefined) latency.observe({ route }, Number(process.hrtime.bigint() - t0) / 1e9);
  });
  const fail = (reply: FastifyReply, status: number, reason: string, message: string) => {
    errors.inc({ reason, status: String(status) });
    return reply.code(status).send({ error: reason, message });
  };
  app.setErrorHandler((err, _req, reply) => {
    const e = err as { code?: string; statusCode?: number; message?: string };
    const { status, reason } = fastifyReason(e.code, e.statusCode ?? 500);
    if (status >= 500) log(`[ctr serve] internal error: ${String(e.message)}`);
    return fail(reply, status, reason, String(e.message ?? err).split('\n')[0]!);
  });
  app.setNotFoundHandler((req, reply) => fail(reply, 404, 'not_found', `no route ${req.method} ${req.url}`));

  app.post('/v1/predict', async (req, reply) => {
    const ct = String(req.headers['content-type'] ?? '');
    if (!ct.startsWith('application/json')) {
      return fail(reply, 415, 'unsupported_media_type', `content-type '${ct}' is not supported; send application/json`);
    }
    const p = slot.acquire();
    try {
      const { userId, input } = parsePredictBody(req.body, p, o.maxCandidates);
      if (!userId.startsWith(o.userPrefix)) {
        throw new RequestError(
          422,
          'unknown_user',
          `userId '${userId}' does not start with the user prefix '${o.userPrefix}'`,
        );
      }
      const userField = p.userFieldId(userId.slice(o.userPrefix.length));
      let state: Awaited<ReturnType<UserStateSource['get']>>;
      try {
        state = await source.get(userId);
      } catch (err) {
        return fail(
          reply,
          503,
          'bse_unavailable',
          `the BSE state source (${source.kind}) failed: ${String((err as Error).message ?? err)}`,
        );
      }
      const r = p.predict({ ...input, userField }, state, o.onVersionMismatch);
      predictions.inc({ path: r.path, version: p.version });
      candidatesScored.inc(input.candidates.length);
      return reply.send({ version: p.version, kind: p.kind, path: r.path, probabilities: Array.from(r.probabilities) });
    } catch (err) {
      if (err instanceof RequestError) return fail(reply, err.status, err.reason, err.message);
      throw err;
    } finally {
      slot.release(p);
    }
  });

  app.get('/healthz', async (_req, reply) => reply.send({ ok: true, version: slot.get().version }));

  app.get('/readyz', async (_req, reply) => {
    if (closing) return reply.code(503).send({ ready: false, reason: 'shutting down' });
    try {
      await source.check();
      return reply.send({ ready: true, version: slot.get().version, source: source.kind });
    } catch (err) {
      return reply.code(503).send({ ready: false, reason: String((err as Error).message ?? err) });
    }
  });

  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', registry.contentType).send(await registry.metrics()),
  );

  let reloading: Promise<unknown> | null = null;
  const reload = async (dir?: string): Promise<{ version: string; previous: string }> => {
    const target = dir ?? modelDir;
    const next = await SequencePredictor.open(theTf, target);
    try {
      checkCompatible(next, source);
      const cur = slot.get();
      if (next.maxLength !== cur.maxLength && source.kind === 'store') {
        throw new InvalidArgumentError(
          `the new model's L is ${next.maxLength} but the encoder's store keeps ${cur.maxLength} behaviours per user`,
        );
      }
    } catch (err) {
      next.dispose();
      throw err;
    }
    const old = slot.swap(next);
    modelDir = target;
    modelInfo.reset();
    modelInfo.set({ version: next.version, kind: next.kind }, 1);
    log(`[ctr serve] switched ${old.version} -> ${next.version} (${target})`);
    return { version: next.version, previous: old.version };
  };

  app.post('/admin/reload', async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (
      typeof body !== 'object' ||
      Array.isArray(body) ||
      (body.modelDir !== undefined && typeof body.modelDir !== 'string')
    ) {
      return fail(reply, 400, 'wrong_type', 'body must be {} or {"modelDir": string}');
    }
    if (reloading) return fail(reply, 409, 'reload_in_progress', 'a reload is already running; retry when it ends');
    const run = reload(body.modelDir as string | undefined);
    reloading = run;
    try {
      const r = await run;
      reloads.inc({ result: 'ok' });
      return reply.send(r);
    } catch (err) {
      reloads.inc({ result: 'rejected' });
      return fail(
        reply,
        422,
        'reload_failed',
        `model directory '${String(body.modelDir ?? modelDir)}' rejected, still serving ${slot.get().version}: ${String((err as Error).message ?? err).split('\n')[0]}`,
      );
    } finally {
      reloading = null;
    }
  });

  const address = await app.listen({ host: o.host, port: o.port });
  const port = (app.server.address() as { port: number }).port;
  log(`[ctr serve] ${first.kind} model ${first.version} on ${address}; user states from ${source.kind}`);
  return {
    url: `${o.tls ? 'https' : 'http'}://${o.host === '0.0.0.0' ? '127.0.0.1' : o.host}:${port}`,
    port,
    app,
    version: () => slot.get().version,
    inflight: () => inflight,
    reload,
    async close() {
      // Graceful: /readyz turns 503 at once; requests already received (including ones still queued behind a
      // running one) are answered; the port closes once nothing arrived for 50 ms and none runs (at most 5 s).
      closing = true;
      const deadline = performance.now() + 5000;
      while ((inflight > 0 || performance.now() - lastArrival < 50) && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      await app.close();
      slot.dispose();
      await source.close();
    },
  };
}

function checkCompatible(p: SequencePredictor, source: UserStateSource): void {
  if (!p.usesBse && !source.hasWindows) {
    throw new InvalidArgumentError(
      `ctr-app/startCtrServer: the ${p.kind} model scores the raw behaviour window, which the BSE HTTP API does not serve; use --bse-state-dir`,
    );
  }
}
