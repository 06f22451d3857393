import { type MapperSnapshot, UsageError } from '@compactrec/core';

type ArrayCtor = Int32ArrayConstructor | Uint32ArrayConstructor | Float32ArrayConstructor | Float64ArrayConstructor;

/** Throws {@link UsageError} unless the snapshot was taken of `method`. */
export function checkSnapshotMethod(method: string, snap: MapperSnapshot): void {
  if (snap.method !== method) {
    throw new UsageError(
      `id-hashing/${method}.restore: snapshot is of method '${snap.method}'; restore it with that method's spec`,
    );
  }
  if (!Number.isInteger(snap.numIds) || snap.numIds < 1 || !Number.isInteger(snap.rows) || snap.rows < 1) {
    throw new UsageError(
      `id-hashing/${method}.restore: snapshot has invalid numIds (${snap.numIds}) or rows (${snap.rows})`,
    );
  }
}

/** A snapshot array of the expected type and length, or a {@link UsageError} naming it. */
export function snapshotArray<C extends ArrayCtor>(
  method: string,
  snap: MapperSnapshot,
  name: string,
  ctor: C,
  length: number,
): InstanceType<C> {
  const a = snap.arrays[name];
  if (!(a instanceof ctor) || a.length !== length) {
    throw new UsageError(
      `id-hashing/${method}.restore: snapshot array '${name}' must be a ${ctor.name} of length ${length}; got ${a === undefined ? 'none' : `${a.constructor.name}(${a.length})`}`,
    );
  }
  return a as InstanceType<C>;
}

/** A numeric snapshot param that must be an integer in [min, max], or a {@link UsageError}. */
export function snapshotInt(method: string, snap: MapperSnapshot, name: string, min: number, max: number): number {
  const v = snap.params[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(
      `id-hashing/${method}.restore: snapshot param '${name}' (${String(v)}) must be an integer in [${min}, ${max}]`,
    );
  }
  return v;
}
