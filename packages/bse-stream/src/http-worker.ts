/**
 * The HTTP API in its own worker thread, with its own reader connection to the store: an ingest
 * transaction on the main thread (tens to hundreds of ms for big batches) never delays a GET.
 * Health, metrics and model switches are asked from the main thread over the worker's message port.
 * Started by service.ts; not part of the public API.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type RoutingSnapshot, RoutingTable } from './cluster.js';
import { buildHttpApp, type HttpOptions } from './http.js';
import { StateStore } from './store.js';

/** workerData of the HTTP worker. */
export interface HttpWorkerData {
  stateDir: string;
  windowLength: number;
  host: string;
  port: number;
  http: HttpOptions | undefined;
  /** Multi-host: route reads by the group's assignment (updated by 'routing' messages). */
  multiHost?: boolean;
}

/** Messages between the main thread and the worker. */
export type HttpWorkerMessage =
  | { type: 'call'; id: number; kind: 'metrics' | 'health' | 'requestVersion' | 'repair'; arg?: unknown }
  | { type: 'reply'; id: number; ok: boolean; value?: unknown; error?: { name: string; message: string } }
  | { type: 'listening'; port: number; address: string }
  | { type: 'failed'; error: string }
  | { type: 'close' }
  | { type: 'routing'; snapshot: RoutingSnapshot }
  | { type: 'closed' };

const port = parentPort!;
const data = workerData as HttpWorkerData;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let seq = 0;

function call<T>(kind: 'metrics' | 'health' | 'requestVersion' | 'repair', arg?: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const id = ++seq;
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    port.postMessage({ type: 'call', id, kind, arg } satisfies HttpWorkerMessage);
  });
}

try {
  const store = StateStore.open(data.stateDir, { windowLength: data.windowLength });
  const table = data.multiHost ? new RoutingTable() : undefined;
  const { app } = buildHttpApp(
    {
      store,
      metricsText: (latency) => call<string>('metrics', latency),
      health: () => call<{ ok: boolean } & Record<string, unknown>>('health'),
      requestVersion: (version) => call<{ active: string; pending: string | undefined }>('requestVersion', version),
      repair: (userId) => call<number>('repair', userId),
      ...(table ? { route: (userId: string, forwarded: boolean) => table.route(userId, forwarded) } : {}),
    },
    data.http ?? {},
  );
  port.on('message', (m: HttpWorkerMessage) => {
    if (m.type === 'reply') {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(Object.assign(new Error(m.error?.message ?? 'error'), { name: m.error?.name ?? 'Error' }));
    } else if (m.type === 'routing') {
      table?.update(m.snapshot);
    } else if (m.type === 'close') {
      app
        .close()
        .catch(() => {})
        .finally(() => {
          store.close();
          port.postMessage({ type: 'closed' } satisfies HttpWorkerMessage);
        });
    }
  });
  await app.listen({ host: data.host, port: data.port });
  const address = app.server.address();
  port.postMessage({
    type: 'listening',
    port: typeof address === 'object' && address ? address.port : 0,
    address: typeof address === 'object' && address ? address.address : String(address),
  } satisfies HttpWorkerMessage);
} catch (err) {
  // One line (e.g. "listen EADDRINUSE: address already in use 127.0.0.1:8080"), no stack.
  port.postMessage({ type: 'failed', error: String((err as Error)?.message ?? err) } satisfies HttpWorkerMessage);
}
