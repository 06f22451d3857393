import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Tf } from '../types.js';
import { readInstallFailure, readNativeManifest, requireHere, tfjsNodeDir } from './paths.js';

/** Result of trying to load tfjs-node: the namespace it exports, or why it cannot be used. */
export type NativeLoad =
  | {
      readonly ok: true;
      readonly tf: Tf;
      readonly tfjsNodeVersion: string;
      readonly tensorflowVersion: string;
      readonly libtensorflow: string;
    }
  | { readonly ok: false; readonly reason: string; readonly tfjsNodeVersion?: string };

const SETUP_HINT =
  'in the CompactRec repository run `bash scripts/setup.sh` (scripts/tfjs/install-native.sh); elsewhere point COMPACTREC_TFJS_HOME at a folder that script prepared — the wasm backend is used meanwhile';
const loads = new Map<string, NativeLoad>();

/** Shape of tfjs-node's kernel backend that we read (the N-API binding reports libtensorflow's version). */
interface NodeBackendLike {
  readonly binding?: { readonly TF_Version?: string };
}

/**
 * Loads tfjs-node from `<home>/node` once per process (a second `require` after a failed one would register
 * its kernels twice). Refuses when tfjs-node would load a tfjs-core other than the repo's, since tensors of
 * two tfjs-core copies cannot meet.
 */
export function loadNative(home: string): NativeLoad {
  const cached = loads.get(home);
  if (cached) return cached;
  const result = tryLoad(home);
  loads.set(home, result);
  return result;
}

function tryLoad(home: string): NativeLoad {
  const dir = tfjsNodeDir(home);
  if (!existsSync(join(dir, 'package.json'))) {
    const failure = readInstallFailure(home);
    return {
      ok: false,
      reason: failure
        ? `the set-up could not install it: ${failure}`
        : `tfjs-node is not installed under ${dir}; ${SETUP_HINT}`,
    };
  }
  const fromNode = createRequire(join(dir, 'package.json'));
  let version: string;
  try {
    version = (fromNode(join(dir, 'package.json')) as { version: string }).version;
  } catch (err) {
    return { ok: false, reason: `cannot read ${join(dir, 'package.json')}: ${firstLine(err)}` };
  }
  const ours = (requireHere('@tensorflow/tfjs/package.json') as { version: string }).version;
  if (version !== ours) {
    return {
      ok: false,
      tfjsNodeVersion: version,
      reason: `tfjs-node ${version} does not match @tensorflow/tfjs ${ours}; ${SETUP_HINT}`,
    };
  }
  try {
    const mine = realpathSync(requireHere.resolve('@tensorflow/tfjs'));
    const theirs = realpathSync(fromNode.resolve('@tensorflow/tfjs'));
    if (mine !== theirs) {
      return {
        ok: false,
        tfjsNodeVersion: version,
        reason: `tfjs-node would load a second copy of tfjs (${theirs}, not ${mine}); ${SETUP_HINT}`,
      };
    }
  } catch (err) {
    return { ok: false, tfjsNodeVersion: version, reason: `cannot resolve @tensorflow/tfjs: ${firstLine(err)}` };
  }
  const manifest = readNativeManifest(home);
  if (!manifest) {
    const failure = readInstallFailure(home);
    return {
      ok: false,
      tfjsNodeVersion: version,
      reason: failure ? `the set-up could not build it: ${failure}` : `the binding was never built; ${SETUP_HINT}`,
    };
  }
  // libtensorflow logs INFO lines (oneDNN, CPU features) on stderr when it loads; keep warnings and errors.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
  let tf: Tf;
  try {
    tf = fromNode(dir) as Tf;
  } catch (err) {
    return {
      ok: false,
      tfjsNodeVersion: version,
      reason: `tfjs-node failed to load: ${firstLine(err)}; ${SETUP_HINT}`,
    };
  }
  const backend = tf.engine().findBackend('tensorflow') as NodeBackendLike | null;
  const lib = join(dir, 'deps', 'lib', 'libtensorflow.so');
  return {
    ok: true,
    tf,
    tfjsNodeVersion: version,
    tensorflowVersion: backend?.binding?.TF_Version ?? manifest.tensorflow ?? 'unknown',
    libtensorflow: existsSync(lib) ? realpathSync(lib) : (manifest.libtensorflow ?? lib),
  };
}

/** First line of an error's message, for one-line reasons. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

/** The libtensorflow file of the first successful tfjs-node load in this process, or null when none loaded. */
export function loadedLibtensorflow(): string | null {
  for (const l of loads.values()) if (l.ok) return l.libtensorflow;
  return null;
}
