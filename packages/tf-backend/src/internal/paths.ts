import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `require` as seen from this package: resolves the repo's own @tensorflow/* packages (one tfjs-core). */
export const requireHere = createRequire(import.meta.url);

/**
 * Folder where scripts/tfjs/install-native.sh puts tfjs-node and libtensorflow: `$COMPACTREC_TFJS_HOME`, else
 * `<repo>/.tfjs` (this file lives at `<repo>/packages/tf-backend/{src,dist}/internal/`).
 */
export function defaultTfjsHome(): string {
  const env = process.env.COMPACTREC_TFJS_HOME;
  if (env !== undefined && env !== '') return resolve(env);
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '.tfjs');
}

/** tfjs-node's package folder inside a tfjs home. */
export function tfjsNodeDir(home: string): string {
  return join(home, 'node', 'node_modules', '@tensorflow', 'tfjs-node');
}

/** What the set-up script recorded after its smoke test (`<home>/native.json`), if present and readable. */
export interface NativeManifest {
  readonly tfjsNode?: string;
  readonly tensorflow?: string;
  readonly libtensorflow?: string;
  readonly source?: string;
  readonly builtAt?: string;
}

/** Reads `<home>/native.json`; undefined when missing or malformed. */
export function readNativeManifest(home: string): NativeManifest | undefined {
  const file = join(home, 'native.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as NativeManifest;
  } catch {
    return undefined;
  }
}

/** First line of `<home>/install.failed` (the set-up script's reason for giving up), if any. */
export function readInstallFailure(home: string): string | undefined {
  const file = join(home, 'install.failed');
  if (!existsSync(file)) return undefined;
  const line = readFileSync(file, 'utf8').split('\n')[0]?.trim();
  return line === '' ? undefined : line;
}
