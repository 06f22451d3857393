import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CHECKPOINT_FORMAT_VERSION,
  type CheckpointArray,
  DataFormatError,
  decodeCheckpoint,
  encodeCheckpoint,
  InvalidArgumentError,
  NotFoundError,
  readCheckpoint,
  readCheckpointSync,
  UsageError,
  writeCheckpoint,
  writeCheckpointSync,
} from '@compactrec/core';
import { afterAll, describe, expect, it } from 'vitest';
import { caught, tempDir } from './helpers.js';

const tmp = tempDir('compactrec-ckpt-');
afterAll(() => tmp.cleanup());

/** One array of every supported dtype, with odd lengths so padding is exercised. */
function allDtypes(): Record<string, CheckpointArray> {
  return {
    i8: Int8Array.of(-128, 0, 127),
    u8: Uint8Array.of(0, 255),
    i16: Int16Array.of(-32768, 1, 32767),
    u16: Uint16Array.of(65535),
    i32: Int32Array.of(-2147483648, -1, 0, 2147483647, 5),
    u32: Uint32Array.of(0xffffffff, 0),
    f32: Float32Array.of(Math.fround(0.1), Number.NaN, Number.NEGATIVE_INFINITY, -0),
    f64: Float64Array.of(Math.PI, 1e300, Number.MIN_VALUE),
    bi64: BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 0n),
    bu64: BigUint64Array.of(2n ** 64n - 1n),
    empty: new Float32Array(0),
  };
}

function expectSameArrays(got: Record<string, CheckpointArray>, want: Record<string, CheckpointArray>): void {
  expect(Object.keys(got)).toEqual(Object.keys(want));
  for (const [name, a] of Object.entries(want)) {
    const b = got[name]!;
    expect(b.constructor).toBe(a.constructor);
    expect(b.length).toBe(a.length);
    // Compare bytes (NaN and -0 included).
    expect(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)).toEqual(
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    );
  }
}

const HEADER = { method: 'double-frequency', rows: 7464, params: { m: 7464, k: [1, 2] }, note: 'ünïcode' };

describe('checkpoint', () => {
  it('rejects bad arguments', () => {
    expect(() => encodeCheckpoint('', {}, {})).toThrow(InvalidArgumentError);
    expect(() => encodeCheckpoint('x', {}, { a: [1, 2] as unknown as Int32Array })).toThrow(InvalidArgumentError);
    expect(() => encodeCheckpoint('x', {}, { a: new Uint8ClampedArray(2) as unknown as Uint8Array })).toThrow(
      InvalidArgumentError,
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encodeCheckpoint('x', cyclic, {})).toThrow(InvalidArgumentError);
  });

  it('round-trips every dtype in memory with 8-byte-aligned arrays', () => {
    const arrays = allDtypes();
    const bytes = encodeCheckpoint('mapper', HEADER, arrays);
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe('CRCK');
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    expect(dv.getUint32(4, true)).toBe(1);
    const json = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + dv.getUint32(8, true))));
    for (const d of json.arrays) expect(d.byteOffset % 8).toBe(0);
    const ck = decodeCheckpoint(bytes, 'mem');
    expect(ck.kind).toBe('mapper');
    expect(ck.formatVersion).toBe(CHECKPOINT_FORMAT_VERSION);
    expect(ck.header).toEqual(HEADER);
    expectSameArrays(ck.arrays, arrays);
  });

  it('decodes from an unaligned copy of the bytes', () => {
    const arrays = allDtypes();
    const bytes = encodeCheckpoint('model', {}, arrays);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    expectSameArrays(decodeCheckpoint(shifted.subarray(3), 'shifted').arrays, arrays);
  });

  it('writes atomically (async and sync) and reads back, leaving no temp files', async () => {
    const arrays = allDtypes();
    const p = join(tmp.dir, 'a.crck');
    await writeCheckpoint(p, 'table', HEADER, arrays);
    const ck = await readCheckpoint(p, { kind: 'table' });
    expect(ck.header).toEqual(HEADER);
    expectSameArrays(ck.arrays, arrays);
    // Overwrite with the sync writer; the file is replaced whole.
    writeCheckpointSync(p, 'table', { v: 2 }, { x: Float32Array.of(1, 2, 3) });
    const ck2 = readCheckpointSync(p);
    expect(ck2.header).toEqual({ v: 2 });
    expectSameArrays(ck2.arrays, { x: Float32Array.of(1, 2, 3) });
    expect(readFileSync(p)).toEqual(Buffer.from(encodeCheckpoint('table', { v: 2 }, { x: Float32Array.of(1, 2, 3) })));
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('fails cleanly when the target directory does not exist', async () => {
    const p = join(tmp.dir, 'no-such-dir', 'x.crck');
    await expect(writeCheckpoint(p, 'k', {}, {})).rejects.toThrow();
    expect(() => writeCheckpointSync(p, 'k', {}, {})).toThrow();
  });

  it('reports a missing file, a kind mismatch, wrong magic and versions', async () => {
    expect(await caught(() => readCheckpoint(join(tmp.dir, 'missing.crck')))).toBeInstanceOf(NotFoundError);
    expect(() => readCheckpointSync(join(tmp.dir, 'missing.crck'))).toThrow(NotFoundError);
    const p = join(tmp.dir, 'k.crck');
    writeCheckpointSync(p, 'mapper', {}, {});
    expect(await caught(() => readCheckpoint(p, { kind: 'model' }))).toBeInstanceOf(UsageError);
    const bytes = encodeCheckpoint('mapper', {}, { a: Int32Array.of(1) });
    const notOurs = bytes.slice();
    notOurs[0] = 0x50; // "PRCK"
    expect(() => decodeCheckpoint(notOurs, 'x')).toThrow(DataFormatError);
    expect(() => decodeCheckpoint(new TextEncoder().encode('hello world, not a checkpoint'), 'x')).toThrow(
      DataFormatError,
    );
    const newer = bytes.slice();
    new DataView(newer.buffer).setUint32(4, CHECKPOINT_FORMAT_VERSION + 1, true);
    const err = await caught(() => decodeCheckpoint(newer, 'newer'));
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).context).toMatchObject({ formatVersion: 2, supported: 1 });
    const zero = bytes.slice();
    new DataView(zero.buffer).setUint32(4, 0, true);
    expect(() => decodeCheckpoint(zero, 'zero')).toThrow(UsageError);
  });

  it('detects truncation at every length and trailing bytes', () => {
    const bytes = encodeCheckpoint('model', { a: 1 }, { w: Float32Array.of(1, 2, 3), b: Float64Array.of(4) });
    for (let n = 0; n < bytes.length; n++) {
      expect(() => decodeCheckpoint(bytes.subarray(0, n), `cut${n}`)).toThrow(DataFormatError);
    }
    const longer = new Uint8Array(bytes.length + 8);
    longer.set(bytes);
    expect(() => decodeCheckpoint(longer, 'long')).toThrow(DataFormatError);
    const p = join(tmp.dir, 'cut.crck');
    writeFileSync(p, bytes.subarray(0, bytes.length - 4));
    expect(() => readCheckpointSync(p)).toThrow(DataFormatError);
  });

  it('detects a corrupt description', () => {
    const bytes = encodeCheckpoint('model', {}, { w: Float32Array.of(1, 2) });
    const jsonLen = new DataView(bytes.buffer).getUint32(8, true);
    const garbled = bytes.slice();
    garbled[12] = 0x7b + 1; // JSON no longer starts with '{'
    expect(() => decodeCheckpoint(garbled, 'g')).toThrow(DataFormatError);
    // Point the array past the data section by editing its length in the JSON (same byte count).
    const text = new TextDecoder().decode(bytes.subarray(12, 12 + jsonLen)).replace('"length":2', '"length":9');
    const edited = bytes.slice();
    edited.set(new TextEncoder().encode(text), 12);
    expect(() => decodeCheckpoint(edited, 'e')).toThrow(DataFormatError);
  });
});
