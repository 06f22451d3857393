import { availableParallelism } from 'node:os';
import { baseTf } from './init.js';
import { silenceCpuBanner } from './internal/cpu.js';
import { loadNative } from './internal/native.js';
import { defaultTfjsHome, readNativeManifest } from './internal/paths.js';
import { activateWasm } from './internal/wasm.js';
import type { BackendProbe } from './types.js';

/** Every backend's status, for `compactrec doctor` and for logs. */
export interface BackendReport {
  /** Version of `@tensorflow/tfjs` (and so of tfjs-core: there is one copy). */
  readonly tfjs: string;
  /** Where the native install lives (see {@link InitTfOptions.tfjsHome}). */
  readonly tfjsHome: string;
  /** Where libtensorflow came from, as the set-up recorded it (e.g. `tensorflow-cpu==2.21.0`), if installed. */
  readonly nativeSource?: string;
  /** tensorflow (native), wasm, cpu, in order of preference. */
  readonly backends: readonly BackendProbe[];
}

/** Options of {@link backendReport}. */
export interface BackendReportOptions {
  /**
   * Where the set-up script installed tfjs-node. Unset: `$COMPACTREC_TFJS_HOME`, else `<repo>/.tfjs`.
   * @default '<repo>/.tfjs'
   */
  readonly tfjsHome?: string;
}

/**
 * Probes each backend (loading tfjs-node and initialising wasm if not done yet), then restores the backend
 * that was active before (or, if none was, the best available), so it can be called after {@link initTf}
 * without changing its choice.
 */
export async function backendReport(options: BackendReportOptions = {}): Promise<BackendReport> {
  const home = options.tfjsHome ?? defaultTfjsHome();
  const tf = baseTf();
  const before = tf.engine().backendName;
  const backends: BackendProbe[] = [];

  const n = loadNative(home);
  if (n.ok) {
    backends.push({
      backend: 'tensorflow',
      available: true,
      reason: `libtensorflow ${n.tensorflowVersion} via tfjs-node ${n.tfjsNodeVersion}`,
      version: `tfjs-node ${n.tfjsNodeVersion}, libtensorflow ${n.tensorflowVersion}`,
      libtensorflow: n.libtensorflow,
      threads: availableParallelism(),
    });
  } else {
    backends.push({
      backend: 'tensorflow',
      available: false,
      reason: n.reason,
      ...(n.tfjsNodeVersion === undefined ? {} : { version: `tfjs-node ${n.tfjsNodeVersion}` }),
    });
  }

  const w = await activateWasm(tf);
  backends.push(
    w.ok
      ? { backend: 'wasm', available: true, reason: 'WebAssembly SIMD', version: w.version, threads: w.threads }
      : {
          backend: 'wasm',
          available: false,
          reason: w.reason,
          ...(w.version === undefined ? {} : { version: w.version }),
        },
  );

  const cpuOk = await tf.setBackend('cpu');
  if (cpuOk) silenceCpuBanner(tf);
  const cpuVersion = tf.version['tfjs-backend-cpu'] ?? tf.version.tfjs;
  backends.push({
    backend: 'cpu',
    available: cpuOk,
    reason: cpuOk ? 'plain JavaScript' : 'the cpu backend failed to initialise',
    version: cpuVersion,
    threads: 1,
  });

  // Put back the backend that was active; if none was, the best one (as initTf's auto would).
  const restore = before ? before : backends.find((b) => b.available)?.backend;
  if (restore !== undefined) await tf.setBackend(restore);
  const manifest = readNativeManifest(home);
  return {
    tfjs: tf.version.tfjs,
    tfjsHome: home,
    ...(manifest?.source === undefined || !n.ok ? {} : { nativeSource: manifest.source }),
    backends,
  };
}
