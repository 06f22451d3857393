import { type CheckpointArray, InvalidArgumentError, NotFoundError, UsageError } from '@compactrec/core';

/**
 * Raw feature values → dense field IDs, per field: what turns a data file's keys (libFM global
 * indices, Criteo hashes, bucketized counts) into the IDs a model was trained on. Each field keeps
 * its known keys sorted (`Float64Array`, so any int32/uint32 key fits) with the ID of each; an
 * unknown key gets the field's OOV ID (the last one) when the field has one, else it is an error.
 */
export class FieldVocabulary {
  /** Per field: known raw keys, ascending. */
  readonly keys: readonly Float64Array[];
  /** Per field: the ID of `keys[f][i]`. */
  readonly ids: readonly Int32Array[];
  /** Per field: whether unknown keys map to an OOV ID (= number of known keys). */
  readonly oov: readonly boolean[];
  /** IDs per field: known keys, plus 1 with OOV. */
  readonly cardinalities: Int32Array;

  constructor(keys: readonly Float64Array[], ids: readonly Int32Array[], oov: readonly boolean[]) {
    if (keys.length !== ids.length || keys.length !== oov.length) {
      throw new InvalidArgumentError(
        `ctr/FieldVocabulary: keys (${keys.length}), ids (${ids.length}) and oov (${oov.length}) need one entry per field`,
      );
    }
    this.keys = keys;
    this.ids = ids;
    this.oov = oov;
    this.cardinalities = new Int32Array(keys.length);
    for (let f = 0; f < keys.length; f++) {
      const k = keys[f]!;
      if (ids[f]!.length !== k.length) {
        throw new InvalidArgumentError(
          `ctr/FieldVocabulary: field ${f} has ${k.length} keys but ${ids[f]!.length} ids`,
        );
      }
      for (let i = 1; i < k.length; i++) {
        if (!(k[i - 1]! < k[i]!))
          throw new InvalidArgumentError(`ctr/FieldVocabulary: field ${f} keys are not strictly ascending`);
      }
      this.cardinalities[f] = k.length + (oov[f] ? 1 : 0);
    }
  }

  /** Fields. */
  get numFields(): number {
    return this.keys.length;
  }

  /** The ID of raw `key` in field f: binary search; OOV ID or −1 (no OOV) when unknown. */
  lookup(f: number, key: number): number {
    const k = this.keys[f]!;
    let lo = 0;
    let hi = k.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = k[mid]!;
      if (v < key) lo = mid + 1;
      else if (v > key) hi = mid - 1;
      else return this.ids[f]![mid]!;
    }
    return this.oov[f] ? k.length : -1;
  }

  /** Like {@link lookup} but throws NotFoundError for an unknown key in a field without OOV. */
  lookupOrThrow(f: number, key: number, where: string): number {
    const id = this.lookup(f, key);
    if (id < 0) {
      throw new NotFoundError(
        `${where}: value ${key} of field ${f} was not seen when the model's vocabulary was built and the field has no OOV id`,
      );
    }
    return id;
  }

  /** Arrays and header for a checkpoint (see {@link FieldVocabulary.fromArrays}). */
  toArrays(): { header: Record<string, unknown>; arrays: Record<string, CheckpointArray> } {
    const arrays: Record<string, CheckpointArray> = {};
    for (let f = 0; f < this.numFields; f++) {
      arrays[`keys/${f}`] = this.keys[f]!;
      arrays[`ids/${f}`] = this.ids[f]!;
    }
    return { header: { numFields: this.numFields, oov: [...this.oov] }, arrays };
  }

  /** Rebuilds a vocabulary written by {@link toArrays}; a malformed one is a UsageError. */
  static fromArrays(
    header: Record<string, unknown>,
    arrays: Record<string, CheckpointArray>,
    where: string,
  ): FieldVocabulary {
    const n = header.numFields;
    const oov = header.oov;
    if (typeof n !== 'number' || !Array.isArray(oov) || oov.length !== n) {
      throw new UsageError(`${where}: the vocabulary header is malformed; re-train the model`);
    }
    const keys: Float64Array[] = [];
    const ids: Int32Array[] = [];
    for (let f = 0; f < n; f++) {
      const k = arrays[`keys/${f}`];
      const i = arrays[`ids/${f}`];
      if (!(k instanceof Float64Array) || !(i instanceof Int32Array)) {
        throw new UsageError(`${where}: the vocabulary lacks field ${f}'s arrays; re-train the model`);
      }
      keys.push(k.slice());
      ids.push(i.slice());
    }
    return new FieldVocabulary(keys, ids, oov.map(Boolean));
  }
}
