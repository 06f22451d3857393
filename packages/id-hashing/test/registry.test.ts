import { type MapperSpec, NotFoundError } from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { getMapperSpec, ID_HASHING_METHODS, MODULO_SPEC, QR_SPEC, restoreMapper } from '../src/index.js';

describe('registry', () => {
  it('getMapperSpec returns the registered spec', () => {
    expect(getMapperSpec('modulo')).toBe(MODULO_SPEC);
    expect(getMapperSpec('qr')).toBe(QR_SPEC);
  });

  it('an unknown name throws NotFoundError listing the known names', () => {
    expect(() => getMapperSpec('graphhash')).toThrow(NotFoundError);
    expect(() => getMapperSpec('nope')).toThrow(/known: full, modulo, universal, double, frequency/);
    // Inherited object keys are not methods.
    expect(() => getMapperSpec('toString')).toThrow(NotFoundError);
  });

  it('accepts another registry (e.g. id-hashing plus graphhash)', () => {
    const custom: Record<string, MapperSpec> = { ...ID_HASHING_METHODS, alias: MODULO_SPEC };
    expect(getMapperSpec('alias', custom)).toBe(MODULO_SPEC);
    expect(() => getMapperSpec('alias')).toThrow(NotFoundError);
  });

  it('restoreMapper dispatches on the snapshot method', () => {
    const m = MODULO_SPEC.create({ numIds: 100 }, { dim: 8, budgetBytes: 10 * 32, seed: 0 });
    const r = restoreMapper(m.snapshot());
    expect(r.method).toBe('modulo');
    expect(r.rows).toBe(10);
    expect(() => restoreMapper({ ...m.snapshot(), method: 'nope' })).toThrow(NotFoundError);
  });

  it('the registry is frozen', () => {
    expect(Object.isFrozen(ID_HASHING_METHODS)).toBe(true);
  });
});
