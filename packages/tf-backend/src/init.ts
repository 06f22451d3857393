import { availableParallelism } from 'node:os';
import { InvalidArgumentError, NotFoundError } from '@compactrec/core';
import { silenceCpuBanner } from './internal/cpu.js';
import { loadedLibtensorflow, loadNative } from './internal/native.js';
import { defaultTfjsHome, requireHere } from './internal/paths.js';
import { activateWasm } from './internal/wasm.js';
import type { Tf, TfBackendName, TfPreference } from './types.js';

/** Options of {@link initTf}. */
export interface InitTfOptions {
  /**
   * Which backend to use. `auto` tries native (tfjs-node, libtensorflow), then wasm, then cpu; a named one is
   * tried first and the others follow in that order. Unset: `$COMPACTREC_TF_BACKEND`, else `auto`.
   * @default 'auto'
   */
  readonly prefer?: TfPreference;
  /**
   * Throw NotFoundError instead of falling back when the preferred backend is unavailable.
   * @default false
   */
  readonly strict?: boolean;
  /**
   * Do not print the one-line stderr notice when falling back from the preferred backend.
   * @default false
   */
  readonly quiet?: boolean;
  /**
   * Where the set-up script installed tfjs-node and libtensorflow. Unset: `$COMPACTREC_TFJS_HOME`, else `<repo>/.tfjs`.
   * @default '<repo>/.tfjs'
   */
  readonly tfjsHome?: string;
  /**
   * libtensorflow's intra-op threads (one op's parallel work), passed as `TF_NUM_INTRAOP_THREADS`. Takes
   * effect only when this call is the first to load libtensorflow in the process (its thread pools are
   * created once); an explicit `TF_NUM_INTRAOP_THREADS` in the environment wins. Unset: the cores.
   * @default the cores
   */
  readonly intraOpThreads?: number;
  /**
   * libtensorflow's inter-op threads (independent ops at once), passed as `TF_NUM_INTEROP_THREADS`; same
   * rules as `intraOpThreads`. Unset: TensorFlow's default.
   * @default TensorFlow's default
   */
  readonly interOpThreads?: number;
}

/** Defaults of {@link InitTfOptions} (`tfjsHome` is resolved at call time; thread counts default to libtensorflow's). */
export const DEFAULT_INIT_TF_OPTIONS: Readonly<
  Required<Omit<InitTfOptions, 'tfjsHome' | 'intraOpThreads' | 'interOpThreads'>>
> = Object.freeze({
  prefer: 'auto',
  strict: false,
  quiet: false,
});

/** The tfjs namespace to build models with, and which backend it runs on. */
export interface TfRuntime {
  /** The tfjs namespace; with native, the one tfjs-node exports (same tfjs-core as `@tensorflow/tfjs`). */
  readonly tf: Tf;
  readonly backend: TfBackendName;
  /** Why this backend, in one line (and why the better ones are unavailable). */
  readonly reason: string;
  /** Compute threads, when known. */
  readonly threads?: number;
}

const PREFERENCES: readonly TfPreference[] = ['native', 'wasm', 'cpu', 'auto'];
const AUTO_ORDER: readonly TfBackendName[] = ['tensorflow', 'wasm', 'cpu'];
const COMMON_NAME: Readonly<Record<TfBackendName, string>> = { tensorflow: 'native', wasm: 'wasm', cpu: 'cpu' };

/** The repo's `@tensorflow/tfjs` (the only tfjs-core in the process; tfjs-node is set up to share it). */
export function baseTf(): Tf {
  return requireHere('@tensorflow/tfjs') as Tf;
}

/** Tries one backend; on success it is the active backend of the returned namespace. */
async function tryBackend(
  name: TfBackendName,
  home: string,
  threads: { intra?: number; inter?: number },
): Promise<{ ok: true; tf: Tf; what: string; threads: number } | { ok: false; why: string }> {
  if (name === 'tensorflow') {
    if (threads.intra !== undefined) process.env.TF_NUM_INTRAOP_THREADS ??= String(threads.intra);
    if (threads.inter !== undefined) process.env.TF_NUM_INTEROP_THREADS ??= String(threads.inter);
    const n = loadNative(home);
    if (!n.ok) return { ok: false, why: n.reason };
    const ok = await n.tf.setBackend('tensorflow');
    if (!ok) return { ok: false, why: 'tfjs-node loaded but its backend failed to initialise' };
    return {
      ok: true,
      tf: n.tf,
      what: `native libtensorflow ${n.tensorflowVersion} via tfjs-node ${n.tfjsNodeVersion}`,
      threads: Number(process.env.TF_NUM_INTRAOP_THREADS) || availableParallelism(),
    };
  }
  const tf = baseTf();
  if (name === 'wasm') {
    const w = await activateWasm(tf);
    if (!w.ok) return { ok: false, why: w.reason };
    return {
      ok: true,
      tf,
      what: `WebAssembly (tfjs-backend-wasm ${w.version}, ${w.threads} thread(s))`,
      threads: w.threads,
    };
  }
  const ok = await tf.setBackend('cpu');
  if (!ok) return { ok: false, why: 'the cpu backend failed to initialise' };
  silenceCpuBanner(tf);
  return { ok: true, tf, what: 'plain JavaScript (tfjs-backend-cpu)', threads: 1 };
}

/**
 * Picks and activates the fastest TensorFlow.js backend that works here, and says why. Use the returned
 * `tf` for every model: with the native backend it is tfjs-node's namespace, which shares the process's
 * single tfjs-core with `@tensorflow/tfjs` and the wasm/cpu backends.
 */
export async function initTf(options: InitTfOptions = {}): Promise<TfRuntime> {
  const envPrefer = process.env.COMPACTREC_TF_BACKEND;
  const prefer = options.prefer ?? (envPrefer ? (envPrefer as TfPreference) : DEFAULT_INIT_TF_OPTIONS.prefer);
  if (!PREFERENCES.includes(prefer)) {
    const from = options.prefer === undefined ? ' ($COMPACTREC_TF_BACKEND)' : '';
    throw new InvalidArgumentError(
      `tf-backend/initTf: prefer${from} '${String(prefer)}' is not one of ${PREFERENCES.join(', ')}`,
      { context: { prefer } },
    );
  }
  const strict = options.strict ?? DEFAULT_INIT_TF_OPTIONS.strict;
  const quiet = options.quiet ?? DEFAULT_INIT_TF_OPTIONS.quiet;
  const home = options.tfjsHome ?? defaultTfjsHome();
  for (const [k, v] of [
    ['intraOpThreads', options.intraOpThreads],
    ['interOpThreads', options.interOpThreads],
  ] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) {
      throw new InvalidArgumentError(`tf-backend/initTf: ${k} (${v}) must be a positive integer`, {
        context: { [k]: v },
      });
    }
  }
  const threads = {
    ...(options.intraOpThreads !== undefined ? { intra: options.intraOpThreads } : {}),
    ...(options.interOpThreads !== undefined ? { inter: options.interOpThreads } : {}),
  };
  const first: TfBackendName | undefined = prefer === 'auto' ? undefined : prefer === 'native' ? 'tensorflow' : prefer;
  const order = first ? [first, ...AUTO_ORDER.filter((b) => b !== first)] : AUTO_ORDER;

  const skipped: string[] = [];
  for (const name of order) {
    const r = await tryBackend(name, home, threads);
    if (!r.ok) {
      if (strict && name === first) {
        throw new NotFoundError(
          `tf-backend/initTf: the ${COMMON_NAME[name]} backend is unavailable (${r.why}); fix that or use prefer: 'auto'`,
          { context: { prefer, backend: name } },
        );
      }
      skipped.push(`${COMMON_NAME[name]} unavailable: ${r.why}`);
      continue;
    }
    const why =
      prefer === 'auto' ? (skipped.length === 0 ? 'fastest available' : 'best available') : `prefer=${prefer}`;
    const reason = [`${r.what}; ${why}`, ...skipped].join('; ');
    if (skipped.length > 0 && !quiet) {
      process.stderr.write(`[tf-backend] using ${COMMON_NAME[name]}: ${skipped.join('; ')}\n`);
    }
    return { tf: r.tf, backend: name, reason, threads: r.threads };
  }
  // Unreachable in practice: the cpu backend is plain JavaScript.
  throw new NotFoundError(`tf-backend/initTf: no TensorFlow.js backend works here (${skipped.join('; ')})`, {
    context: { prefer },
  });
}

/**
 * Path of the libtensorflow shared library the native backend runs on (tfjs-node's), or null when the
 * native backend was not loaded in this process. For code that drives the same library directly (the CTR
 * tower graph of @compactrec/native), so the process holds one TensorFlow.
 */
export function nativeLibraryPath(): string | null {
  return loadedLibtensorflow();
}
