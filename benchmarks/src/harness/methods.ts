import { type MapperSpec, NotFoundError } from '@compactrec/core';
import { GRAPHHASH_METHODS } from '@compactrec/graphhash';
import { ID_HASHING_METHODS } from '@compactrec/id-hashing';

/**
 * Every compression method the benchmark knows. Sharing methods are {@link MapperSpec}s; a new
 * one is a module implementing `IdMapper` plus one line here.
 */
export const SHARING_METHODS: Readonly<Record<string, MapperSpec>> = Object.freeze({
  ...ID_HASHING_METHODS,
  ...GRAPHHASH_METHODS,
});

/**
 * Methods that keep every ID's row but store a budgeted fraction of its weights (sparse tables),
 * handled by the harness itself rather than by an IdMapper.
 */
export const SPARSE_TABLE_METHODS: readonly string[] = Object.freeze(['dsl']);

/** Method names accepted by `--methods`, in display order. */
export function methodNames(): string[] {
  return [...Object.keys(SHARING_METHODS), ...SPARSE_TABLE_METHODS];
}

/** The spec of a method; NotFoundError lists the known names. */
export function methodSpec(name: string): MapperSpec {
  const spec = SHARING_METHODS[name];
  if (!spec) {
    throw new NotFoundError(`benchmarks/methodSpec: unknown method '${name}'; known: ${methodNames().join(', ')}`);
  }
  return spec;
}
