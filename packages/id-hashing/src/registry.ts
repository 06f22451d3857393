import { type IdMapper, type MapperSnapshot, type MapperSpec, NotFoundError } from '@compactrec/core';
import { DOUBLE_SPEC } from './double.js';
import { DOUBLE_FREQUENCY_SPEC } from './double-frequency.js';
import { FREQUENCY_SPEC } from './frequency.js';
import { FULL_SPEC } from './full.js';
import { HASH_EMBEDDING_SPEC } from './hash-embedding.js';
import { LSH_SPEC } from './lsh.js';
import { MODULO_SPEC } from './modulo.js';
import { QR_SPEC } from './qr.js';
import { UNIVERSAL_SPEC } from './universal.js';

/** Every ID-hashing method by registry name (the names the CLI and benchmark accept). */
export const ID_HASHING_METHODS: Readonly<Record<string, MapperSpec>> = Object.freeze({
  [FULL_SPEC.name]: FULL_SPEC,
  [MODULO_SPEC.name]: MODULO_SPEC,
  [UNIVERSAL_SPEC.name]: UNIVERSAL_SPEC,
  [DOUBLE_SPEC.name]: DOUBLE_SPEC,
  [FREQUENCY_SPEC.name]: FREQUENCY_SPEC,
  [DOUBLE_FREQUENCY_SPEC.name]: DOUBLE_FREQUENCY_SPEC,
  [QR_SPEC.name]: QR_SPEC,
  [HASH_EMBEDDING_SPEC.name]: HASH_EMBEDDING_SPEC,
  [LSH_SPEC.name]: LSH_SPEC,
});

/**
 * The spec registered under `name`. Other packages pass their own registry (e.g. id-hashing's
 * methods plus graphhash) to share the lookup and its error.
 * @throws NotFoundError listing the known names
 */
export function getMapperSpec(
  name: string,
  registry: Readonly<Record<string, MapperSpec>> = ID_HASHING_METHODS,
): MapperSpec {
  const spec = Object.hasOwn(registry, name) ? registry[name] : undefined;
  if (spec === undefined) {
    throw new NotFoundError(
      `id-hashing/getMapperSpec: unknown method '${name}'; known: ${Object.keys(registry).join(', ')}`,
      { context: { name, known: Object.keys(registry) } },
    );
  }
  return spec;
}

/** Rebuilds a mapper from a snapshot with the spec of its method (checkpoints, serving). */
export function restoreMapper(
  snapshot: MapperSnapshot,
  registry: Readonly<Record<string, MapperSpec>> = ID_HASHING_METHODS,
): IdMapper {
  return getMapperSpec(snapshot.method, registry).restore(snapshot);
}
