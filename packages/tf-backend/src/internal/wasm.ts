import { dirname, sep } from 'node:path';
import type { Tf } from '../types.js';
import { firstLine } from './native.js';
import { requireHere } from './paths.js';

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

/** Result of initialising the wasm backend. */
export type WasmLoad =
  | { readonly ok: true; readonly version: string; readonly threads: number }
  | { readonly ok: false; readonly reason: string; readonly version?: string };

let wasm: WasmModule | undefined;
let pathsSet = false;

/**
 * Makes `wasm` the active backend of `tf`. In Node the .wasm binaries must be named by file path: they are
 * read from the package's dist folder (setWasmPaths takes a prefix, so the trailing separator matters).
 */
export async function activateWasm(tf: Tf): Promise<WasmLoad> {
  let version: string | undefined;
  try {
    wasm ??= requireHere('@tensorflow/tfjs-backend-wasm') as WasmModule;
    version = (requireHere('@tensorflow/tfjs-backend-wasm/package.json') as { version: string }).version;
    if (!pathsSet) {
      wasm.setWasmPaths(`${dirname(requireHere.resolve('@tensorflow/tfjs-backend-wasm'))}${sep}`);
      pathsSet = true;
    }
    const ok = await tf.setBackend('wasm');
    if (!ok) return { ok: false, version, reason: 'the wasm backend failed to initialise (see the warning above)' };
    await tf.ready();
    return { ok: true, version, threads: wasm.getThreadsCount() };
  } catch (err) {
    return version === undefined
      ? { ok: false, reason: `@tensorflow/tfjs-backend-wasm failed: ${firstLine(err)}` }
      : { ok: false, version, reason: `@tensorflow/tfjs-backend-wasm failed: ${firstLine(err)}` };
  }
}
