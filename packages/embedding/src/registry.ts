import { type MapperSpec, NotFoundError, type StorageSpec } from '@compactrec/core';
import { DSL_STORAGE } from '@compactrec/dsl';
import { GRAPHHASH_METHODS } from '@compactrec/graphhash';
import { FULL_SPEC, ID_HASHING_METHODS } from '@compactrec/id-hashing';
import { ALPT4_STORAGE, ALPT8_STORAGE } from './storages/alpt.js';
import { FLOAT32_STORAGE } from './storages/float32.js';
import { FP16_STORAGE } from './storages/fp16.js';
import { INT4_STORAGE } from './storages/int4.js';
import { INT8_STORAGE } from './storages/int8.js';

/**
 * Sharing methods (which rows an ID uses), by registry name: id-hashing's and GraphHash's. A new
 * one is a module implementing `IdMapper` plus one line in its package's registry.
 */
export const SHARING_METHODS: Readonly<Record<string, MapperSpec>> = Object.freeze({
  ...ID_HASHING_METHODS,
  ...GRAPHHASH_METHODS,
});

/**
 * Storage kinds (how rows are held and trained), by registry name. A new kind is one module
 * implementing `StorageSpec` plus one line here.
 */
export const STORAGE_KINDS: Readonly<Record<string, StorageSpec>> = Object.freeze({
  [FLOAT32_STORAGE.name]: FLOAT32_STORAGE,
  [FP16_STORAGE.name]: FP16_STORAGE,
  [INT8_STORAGE.name]: INT8_STORAGE,
  [INT4_STORAGE.name]: INT4_STORAGE,
  [ALPT8_STORAGE.name]: ALPT8_STORAGE,
  [ALPT4_STORAGE.name]: ALPT4_STORAGE,
  [DSL_STORAGE.name]: DSL_STORAGE,
});

/** A method name resolved into its parts. */
export interface EmbeddingMethod {
  /** The name as given (canonical: `SHARING+STORAGE[+INNER]`, parts left out when default). */
  readonly name: string;
  readonly sharing: MapperSpec;
  readonly storage: StorageSpec;
  /** The value kind of a wrapping storage (`dsl+int8` → int8). */
  readonly inner?: StorageSpec;
  /** Whether this is the uncompressed reference (full sharing, float32 rows): it ignores budgets. */
  readonly uncompressed: boolean;
}

/** How to write a method name, for `--help` and errors. */
export const METHOD_SYNTAX = 'SHARING, STORAGE, SHARING+STORAGE or dsl+STORAGE (e.g. graphhash+int8, dsl+int8)';

/** Every single-part name: sharing methods, then storage kinds (float32 alone is `full`). */
export function methodNames(): string[] {
  return [
    ...Object.keys(SHARING_METHODS),
    ...Object.keys(STORAGE_KINDS).filter((k) => STORAGE_KINDS[k] !== FLOAT32_STORAGE),
  ];
}

/** One line per sharing method and storage kind, for `--help`. */
export function methodHelp(): string {
  const lines = ['Sharing methods (which rows an ID uses):'];
  for (const [n, s] of Object.entries(SHARING_METHODS)) lines.push(`  ${n.padEnd(22)}${s.summary}`);
  lines.push('Storage kinds (how rows are stored; alone they apply to the full table):');
  for (const [n, s] of Object.entries(STORAGE_KINDS)) lines.push(`  ${n.padEnd(22)}${s.summary}`);
  lines.push(`Compose as ${METHOD_SYNTAX}.`);
  return lines.join('\n');
}

function unknown(name: string, part: string): never {
  throw new NotFoundError(
    `embedding/resolveMethod: unknown method '${name}'${part !== name ? ` (part '${part}')` : ''}; write ${METHOD_SYNTAX} with sharing methods ${Object.keys(SHARING_METHODS).join(', ')} and storage kinds ${Object.keys(STORAGE_KINDS).join(', ')}`,
    { context: { method: name, part } },
  );
}

/**
 * Resolves `SHARING`, `STORAGE`, `SHARING+STORAGE` or `[SHARING+]WRAPPER+STORAGE` into its parts;
 * a {@link NotFoundError} lists every known name.
 */
export function resolveMethod(name: string): EmbeddingMethod {
  if (typeof name !== 'string' || name.length === 0) unknown(String(name), String(name));
  const parts = name.split('+');
  let i = 0;
  let sharing: MapperSpec = FULL_SPEC;
  const first = SHARING_METHODS[parts[0]!];
  if (first !== undefined) {
    sharing = first;
    i = 1;
  }
  let storage: StorageSpec = FLOAT32_STORAGE;
  let inner: StorageSpec | undefined;
  if (i < parts.length) {
    const s = STORAGE_KINDS[parts[i]!];
    if (s === undefined) unknown(name, parts[i]!);
    storage = s;
    i++;
    if (i < parts.length) {
      const v = STORAGE_KINDS[parts[i]!];
      if (v === undefined) unknown(name, parts[i]!);
      if (!storage.wrapsValues) {
        throw new NotFoundError(
          `embedding/resolveMethod: '${name}' puts '${v.name}' after '${storage.name}', which does not wrap a value kind; write ${METHOD_SYNTAX}`,
          { context: { method: name } },
        );
      }
      inner = v;
      i++;
    }
  }
  if (i < parts.length) unknown(name, parts[i]!);
  return Object.freeze({
    name,
    sharing,
    storage,
    ...(inner ? { inner } : {}),
    uncompressed: sharing === FULL_SPEC && storage === FLOAT32_STORAGE,
  });
}
