/**
 * The HTTP feature API (fastify). Reads go to the store's reader connection (WAL snapshot), so they
 * never wait for an ingest transaction of another process, and in this process at most for one chunk.
 *
 *   GET  /v1/users/:id/bse      served state + version; 404 for unknown users. JSON by default,
 *                               raw serializeBse bytes with `Accept: application/octet-stream` or `?format=binary`.
 *   POST /v1/bse:batchGet       {"userIds": [...], "offset"?: k} → {"results": [{userId, found, ...}], "nextOffset"?: k'}
 *                               one page of at most `maxResponseBytes`; `nextOffset` (absent on the last
 *                               page) is where the next request continues in the same userIds list
 *   POST /v1/admin/model        {"version": "..."} → start a blue/green switch to that version
 *   GET  /healthz               200 when the store is open and a version is served, else 503
 *   GET  /metrics               Prometheus text
 */
import { InvalidArgumentError } from '@compactrec/core';
import { type BseState, deserializeBse } from '@compactrec/sdim';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { bearerChecker, isOpenRoute, type TlsFiles } from './auth.js';
import type { ReadRoute } from './cluster.js';
import { LatencyRing } from './metrics.js';
import type { StateStore, StoredState } from './store.js';

/** HTTP latency summary handed to the metrics renderer. */
export interface HttpLatency {
  readonly p50: number;
  readonly p99: number;
  readonly requests: number;
}

/** What the HTTP layer needs from the rest of the service (possibly across a worker-thread boundary). */
export interface HttpDeps {
  /** Where states are read (the HTTP side's own connection). */
  readonly store: Pick<StateStore, 'getState'>;
  /** Prometheus text of the current metrics, given the HTTP side's latency summary. */
  metricsText(latency: HttpLatency): Promise<string> | string;
  /** Health details; `ok: false` → 503. */
  health(): Promise<{ ok: boolean } & Record<string, unknown>> | ({ ok: boolean } & Record<string, unknown>);
  /** Requests a model switch (validates that the version can be loaded). */
  requestVersion(version: string): Promise<{ active: string; pending: string | undefined }>;
  /**
   * Rebuilds a user's states whose bytes fail their checksum from the user's window (the writer does
   * it); returns how many it rebuilt. Without it, a corrupted state answers 503.
   */
  repair?(userId: string): Promise<number>;
  /**
   * Multi-host: where a read of `userId` goes (`forwarded` = it came from another instance). Without
   * it every read is local (single-host).
   */
  route?(userId: string, forwarded: boolean): ReadRoute;
}

/** Header marking a read forwarded by another instance (it is never forwarded again). */
export const FORWARDED_HEADER = 'x-bse-forwarded';
/** Header naming the instance (its URL) that answered a read from its own store (multi-host). */
export const SERVED_BY_HEADER = 'x-bse-served-by';
/** Retry-After (seconds) of a 503 during a hand-over. */
const HANDOVER_RETRY_S = 1;
/** Longest wait for the owner of a forwarded read, ms. */
const FORWARD_TIMEOUT_MS = 10_000;

function handover(reply: FastifyReply, message: string) {
  return reply
    .code(503)
    .header('retry-after', String(HANDOVER_RETRY_S))
    .send({ error: 'handover', message } satisfies HttpErrorBody);
}

/** Headers a forwarded read carries: the caller's credentials and format. */
function forwardHeaders(h: Record<string, string | string[] | undefined>, json: boolean): Record<string, string> {
  const out: Record<string, string> = { [FORWARDED_HEADER]: '1' };
  if (typeof h.authorization === 'string') out.authorization = h.authorization;
  if (typeof h.accept === 'string') out.accept = h.accept;
  if (json) out['content-type'] = 'application/json';
  return out;
}

/** Precision of the bucket sums in JSON answers. */
export type StatePrecision = 'float32' | 'float64';

/** Defaults of {@link HttpOptions}, in one place. */
export const HTTP_DEFAULTS = {
  maxBatchGet: 1000,
  maxResponseBytes: 4 << 20,
  bodyLimit: 1 << 20,
  statePrecision: 'float32' as StatePrecision,
  latencySamples: 8192,
  idleTimeoutMs: 15_000,
  requestTimeoutMs: 30_000,
} as const;

/** Options of {@link buildHttpApp}. */
export interface HttpOptions {
  /** Largest batchGet request, in user ids. @default 1000 */
  maxBatchGet?: number;
  /**
   * Largest batchGet answer body, bytes (at least 64 KiB). A larger answer is cut into pages: the answer
   * holds the first users that fit and `nextOffset`; the client repeats the request with `offset`.
   * Bounds the memory one request can take on the server. @default 4 MiB
   */
  maxResponseBytes?: number;
  /** Largest request body, bytes (larger → 413). @default 1 MiB */
  bodyLimit?: number;
  /**
   * Precision of `sums` in JSON answers. float32 halves the answer (the model computes in float32);
   * 'float64' sends the store's exact sums. The binary answer is always the stored float64 bytes.
   * @default 'float32'
   */
  statePrecision?: StatePrecision;
  /** Latency samples kept for the p50/p99 in /metrics. @default 8192 */
  latencySamples?: number;
  /**
   * A connection with no traffic for this long is closed (also one that never sends a request, and an
   * idle keep-alive connection). @default 15000
   */
  idleTimeoutMs?: number;
  /** Longest time to receive one whole request (headers and body), ms. @default 30000 */
  requestTimeoutMs?: number;
  /**
   * Bearer token required on every route except `/healthz` (`Authorization: Bearer <token>`, compared
   * in constant time; missing or wrong → 401). Undefined = no authentication (only sensible on loopback).
   */
  authToken?: string;
  /** Serve HTTPS with this certificate and key (PEM). @default plain HTTP */
  tls?: TlsFiles;
}

/** Every error answer of the API has this one shape. */
export interface HttpErrorBody {
  /** Machine-readable kind, e.g. `bad_request`, `not_found`, `state_corrupt`. */
  readonly error: string;
  /** What was wrong, for a person. */
  readonly message: string;
}

const ERROR_KINDS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  413: 'payload_too_large',
  502: 'bad_gateway',
  415: 'unsupported_media_type',
  503: 'unavailable',
};

/** JSON form of a served state. `sums` is base64 of the little-endian float32 or float64 array (`precision`). */
export interface BseStateJson {
  readonly userId: string;
  readonly version: string;
  readonly length: number;
  readonly dim: number;
  readonly numSignatures: number;
  readonly bucketsPerSignature: number;
  /** `[numSignatures × bucketsPerSignature]` behaviours per bucket. */
  readonly counts: number[];
  /** base64 of `[numSignatures × bucketsPerSignature × dim]` little-endian floats of `precision`. */
  readonly sums: string;
  /** Element type of `sums` (answers without it are float64). */
  readonly precision: StatePrecision;
}

/** Converts a stored state to its JSON form. */
export function stateToJson(s: StoredState, precision: StatePrecision = HTTP_DEFAULTS.statePrecision): BseStateJson {
  return jsonOf(s.userId, deserializeBse(s.bytes), precision);
}

function jsonOf(userId: string, st: BseState, precision: StatePrecision): BseStateJson {
  const sums = precision === 'float32' ? Float32Array.from(st.sums) : st.sums;
  return {
    userId,
    version: st.version,
    length: st.length,
    dim: st.dim,
    numSignatures: st.numSignatures,
    bucketsPerSignature: st.bucketsPerSignature,
    counts: Array.from(st.counts),
    sums: Buffer.from(sums.buffer, sums.byteOffset, sums.byteLength).toString('base64'),
    precision,
  };
}

/**
 * Decodes the `sums` field of {@link BseStateJson} given its `precision` (float32 values are widened
 * exactly). @param precision the answer's `precision`; older answers without it are float64.
 */
export function decodeSums(base64: string, precision: StatePrecision = 'float64'): Float64Array {
  const b = Buffer.from(base64, 'base64');
  const width = precision === 'float32' ? 4 : 8;
  if (b.length % width !== 0) {
    throw new InvalidArgumentError(
      `bse-stream/decodeSums: ${b.length} bytes is not a whole number of ${precision} values; pass the answer's precision`,
    );
  }
  const copy = new Uint8Array(b.length);
  copy.set(b);
  return precision === 'float32' ? Float64Array.from(new Float32Array(copy.buffer)) : new Float64Array(copy.buffer);
}

/**
 * The served state of `userId`, checked against its checksum. A corrupted state is rebuilt from the
 * window through `deps.repair` and read again; `undefined` = unknown user; throws when it stays corrupt.
 */
async function readVerified(deps: HttpDeps, userId: string): Promise<{ s: StoredState; st: BseState } | undefined> {
  for (let attempt = 0; ; attempt++) {
    const s = deps.store.getState(userId);
    if (!s) return undefined;
    try {
      return { s, st: deserializeBse(s.bytes) }; // checks the checksum
    } catch (err) {
      if (attempt > 0 || !deps.repair) throw err;
      await deps.repair(userId);
    }
  }
}

function corrupt(reply: FastifyReply, userId: string, err: unknown) {
  return reply.code(503).send({
    error: 'state_corrupt',
    message: `the stored state of user '${userId}' is corrupted and could not be rebuilt (${String((err as Error)?.message ?? err)}); see /healthz`,
  });
}

/** The fastify app (not listening yet) and its latency ring. */
export function buildHttpApp(
  deps: HttpDeps,
  options: HttpOptions = {},
): { app: FastifyInstance; latency: LatencyRing; requests: () => number } {
  const maxBatchGet = options.maxBatchGet ?? HTTP_DEFAULTS.maxBatchGet;
  const maxResponseBytes = options.maxResponseBytes ?? HTTP_DEFAULTS.maxResponseBytes;
  const precision = options.statePrecision ?? HTTP_DEFAULTS.statePrecision;
  const bodyLimit = options.bodyLimit ?? HTTP_DEFAULTS.bodyLimit;
  if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 64 << 10) {
    throw new InvalidArgumentError(
      `bse-stream/buildHttpApp: maxResponseBytes (${maxResponseBytes}) must be an integer of at least 65536 (64 KiB)`,
    );
  }
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 1024) {
    throw new InvalidArgumentError(`bse-stream/buildHttpApp: bodyLimit (${bodyLimit}) must be an integer ≥ 1024 bytes`);
  }
  if (precision !== 'float32' && precision !== 'float64') {
    throw new InvalidArgumentError(
      `bse-stream/buildHttpApp: statePrecision '${String(precision)}' is not 'float32' or 'float64'`,
    );
  }
  const latency = new LatencyRing(options.latencySamples ?? HTTP_DEFAULTS.latencySamples);
  let requests = 0;
  const idle = options.idleTimeoutMs ?? HTTP_DEFAULTS.idleTimeoutMs;
  const app = Fastify({
    logger: false,
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    bodyLimit,
    connectionTimeout: idle,
    keepAliveTimeout: Math.min(idle, 5000),
    requestTimeout: options.requestTimeoutMs ?? HTTP_DEFAULTS.requestTimeoutMs,
  });
  app.server.headersTimeout = Math.min(options.requestTimeoutMs ?? HTTP_DEFAULTS.requestTimeoutMs, 20_000);
  // fastify's own errors (bad JSON, unknown route, body too large...) in the API's one shape.
  app.setErrorHandler((err: { statusCode?: number; message?: string }, _req, reply) => {
    const code = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    const body: HttpErrorBody = {
      error: ERROR_KINDS[code] ?? (code === 500 ? 'internal' : 'error'),
      message: code === 500 ? 'internal error; see the service log' : String(err.message ?? 'error'),
    };
    return reply.code(code).send(body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url}` } satisfies HttpErrorBody),
  );
  const started = new WeakMap<object, bigint>();
  const authorized = options.authToken === undefined ? undefined : bearerChecker(options.authToken);
  app.addHook('onRequest', async (req, reply) => {
    started.set(req, process.hrtime.bigint());
    if (authorized && !isOpenRoute(req.url) && !authorized(req.headers.authorization)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({
          error: 'unauthorized',
          message: 'this route needs the header Authorization: Bearer <token> (the token of --auth-token-file)',
        } satisfies HttpErrorBody);
    }
  });
  app.addHook('onResponse', async (req) => {
    const t0 = started.get(req);
    if (t0 !== undefined) {
      latency.record(Number(process.hrtime.bigint() - t0) / 1e9);
      requests++;
    }
  });

  app.get<{ Params: { id: string }; Querystring: { format?: string } }>('/v1/users/:id/bse', async (req, reply) => {
    const route = deps.route?.(req.params.id, req.headers[FORWARDED_HEADER] !== undefined);
    if (route?.kind === 'unavailable') return handover(reply, route.message);
    if (route?.kind === 'forward') {
      const q = req.query.format === undefined ? '' : `?format=${encodeURIComponent(req.query.format)}`;
      let res: Response;
      try {
        res = await fetch(`${route.url}/v1/users/${encodeURIComponent(req.params.id)}/bse${q}`, {
          headers: forwardHeaders(req.headers, false),
          signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
        });
      } catch (err) {
        return handover(
          reply,
          `the owner of user '${req.params.id}' does not answer (${String((err as Error)?.message ?? err)}); retry shortly`,
        );
      }
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status === 503) reply.header('retry-after', res.headers.get('retry-after') ?? String(HANDOVER_RETRY_S));
      for (const h of ['content-type', 'x-bse-version', 'www-authenticate', SERVED_BY_HEADER]) {
        const v = res.headers.get(h);
        if (v !== null) reply.header(h, v);
      }
      return reply.code(res.status).send(body);
    }
    let found: Awaited<ReturnType<typeof readVerified>>;
    try {
      found = await readVerified(deps, req.params.id);
    } catch (err) {
      return corrupt(reply, req.params.id, err);
    }
    if (route?.kind === 'local') reply.header(SERVED_BY_HEADER, route.self);
    if (!found) return reply.code(404).send({ error: 'not_found', message: `no state for user '${req.params.id}'` });
    const s = found.s;
    const binary = req.query.format === 'binary' || (req.headers.accept ?? '').includes('application/octet-stream');
    if (binary) {
      return reply
        .header('content-type', 'application/octet-stream')
        .header('x-bse-version', s.version)
        .send(Buffer.from(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength));
    }
    return reply.send(jsonOf(s.userId, found.st, precision));
  });

  // '::' is fastify's escape for a literal ':' in a path (Google-style custom method).
  app.post<{ Body: { userIds?: unknown; offset?: unknown } }>('/v1/bse::batchGet', async (req, reply) => {
    const ids = req.body?.userIds;
    if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string')) {
      return reply
        .code(400)
        .send({ error: 'bad_request', message: 'body must be {"userIds": [string, ...], "offset"?: integer}' });
    }
    if (ids.length > maxBatchGet) {
      return reply
        .code(400)
        .send({ error: 'bad_request', message: `at most ${maxBatchGet} userIds per request; got ${ids.length}` });
    }
    const offset = req.body.offset ?? 0;
    if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > ids.length) {
      return reply.code(400).send({
        error: 'bad_request',
        message: `offset (${JSON.stringify(offset)}) must be an integer in [0, ${ids.length}] (the nextOffset of the previous page)`,
      });
    }
    // Multi-host: users of partitions owned elsewhere are asked from their owners (one batchGet per
    // owner); if any user's partition is being handed over, the whole answer is 503.
    const remote = new Map<string, string>();
    if (deps.route) {
      const forwarded = req.headers[FORWARDED_HEADER] !== undefined;
      const byOwner = new Map<string, string[]>();
      for (let i = offset; i < ids.length; i++) {
        const id = ids[i] as string;
        const r = deps.route(id, forwarded);
        if (r.kind === 'unavailable') return handover(reply, r.message);
        if (r.kind === 'forward') {
          const list = byOwner.get(r.url) ?? [];
          list.push(id);
          byOwner.set(r.url, list);
        }
      }
      for (const [url, list] of byOwner) {
        let at = 0;
        while (at < list.length) {
          let res: Response;
          try {
            res = await fetch(`${url}/v1/bse:batchGet`, {
              method: 'POST',
              headers: forwardHeaders(req.headers, true),
              body: JSON.stringify({ userIds: list, offset: at }),
              signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
            });
          } catch (err) {
            return handover(
              reply,
              `an owner does not answer (${String((err as Error)?.message ?? err)}); retry shortly`,
            );
          }
          if (res.status !== 200) {
            const text = await res.text();
            if (res.status === 503) return handover(reply, `an owner is handing over: ${text.slice(0, 300)}`);
            return reply.code(res.status === 401 ? 401 : 502).send({
              error: res.status === 401 ? 'unauthorized' : 'bad_gateway',
              message: `the owner of some users answered ${res.status}: ${text.slice(0, 300)}`,
            } satisfies HttpErrorBody);
          }
          const page = (await res.json()) as { results: { userId: string }[]; nextOffset?: number };
          for (const r of page.results) remote.set(r.userId, JSON.stringify(r));
          at = page.nextOffset ?? list.length;
        }
      }
    }
    // The answer is built as JSON text one user at a time and cut before it would pass maxResponseBytes,
    // so a request holds at most one page in memory whatever the batch size (forwarded users: at most
    // one batch of them).
    const parts: string[] = [];
    const tail = (next: number | undefined): string => (next === undefined ? ']}' : `],"nextOffset":${next}}`);
    let bytes = '{"results":['.length + tail(ids.length).length;
    let next: number | undefined;
    for (let i = offset; i < ids.length; i++) {
      const id = ids[i] as string;
      let part = remote.get(id);
      if (part === undefined) {
        let found: Awaited<ReturnType<typeof readVerified>>;
        try {
          found = await readVerified(deps, id);
        } catch (err) {
          return corrupt(reply, id, err);
        }
        part = JSON.stringify(
          found ? { found: true, ...jsonOf(id, found.st, precision) } : { userId: id, found: false },
        );
      }
      const add = Buffer.byteLength(part) + (parts.length > 0 ? 1 : 0);
      if (bytes + add > maxResponseBytes) {
        if (parts.length === 0) {
          return reply.code(413).send({
            error: 'payload_too_large',
            message: `the state of user '${id}' alone is ${add} bytes, more than maxResponseBytes (${maxResponseBytes}); raise the limit (bse serve --max-response-kib)`,
          });
        }
        next = i;
        break;
      }
      parts.push(part);
      bytes += add;
    }
    return reply
      .header('content-type', 'application/json; charset=utf-8')
      .send(`{"results":[${parts.join(',')}${tail(next)}`);
  });

  app.post<{ Body: { version?: unknown } }>('/v1/admin/model', async (req, reply) => {
    const version = req.body?.version;
    if (typeof version !== 'string') {
      return reply.code(400).send({ error: 'bad_request', message: 'body must be {"version": string}' });
    }
    try {
      const r = await deps.requestVersion(version);
      return reply.code(202).send(r);
    } catch (err) {
      const name = (err as Error)?.name;
      const code = name === 'NotFoundError' ? 404 : name === 'InvalidArgumentError' ? 400 : 500;
      const body: HttpErrorBody = {
        error: ERROR_KINDS[code] ?? 'internal',
        message: code === 500 ? 'the model switch failed; see the service log' : String((err as Error)?.message ?? err),
      };
      return reply.code(code).send(body);
    }
  });

  app.get('/healthz', async (_req, reply) => {
    const h = await deps.health();
    return reply.code(h.ok ? 200 : 503).send(h);
  });

  app.get('/metrics', async (_req, reply) => {
    const [p50, p99] = latency.quantiles([0.5, 0.99]);
    const text = await deps.metricsText({ p50: p50!, p99: p99!, requests });
    return reply.header('content-type', 'text/plain; version=0.0.4').send(text);
  });

  return { app, latency, requests: () => requests };
}
