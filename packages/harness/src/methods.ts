import type { MapperSpec } from '@compactrec/core';
import { resolveMethod } from '@compactrec/embedding';

/**
 * Every compression method the benchmarks know comes from the embedding contract's registry:
 * sharing methods (`SHARING_METHODS`), storage kinds (`STORAGE_KINDS`) and their compositions
 * (`graphhash+int8`, `dsl+int8`). A new method is one module plus one registry line there.
 */
export {
  METHOD_SYNTAX,
  methodHelp,
  methodNames,
  resolveMethod,
  SHARING_METHODS,
  STORAGE_KINDS,
} from '@compactrec/embedding';

/** The sharing part of a method name (its `IdMapper` spec); NotFoundError lists the known names. */
export function methodSpec(name: string): MapperSpec {
  return resolveMethod(name).sharing;
}
