/**
 * Named n-dimensional arrays and the two file formats other tools read them from:
 * - safetensors: 8-byte little-endian header length N, N bytes of JSON
 *   `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`
 *   (padded with spaces to a multiple of 8), then the raw little-endian buffers back to back.
 * - NumPy `.npy` version 1.0: magic `\x93NUMPY`, version 1.0, a 2-byte header length, a Python
 *   dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (R, C), }` padded so the
 *   data starts at a multiple of 64, then the raw C-order buffer.
 */
import { DataFormatError, InvalidArgumentError } from '@compactrec/core';

/** Element types this module reads and writes. `F16` holds IEEE half-precision bits in a Uint16Array. */
export type Dtype = 'F64' | 'F32' | 'F16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'U16' | 'U32';

/** The typed array of each {@link Dtype}. */
export type TensorData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint32Array;

/** A named array: C-order data of `shape` (product of shape = data.length). */
export interface Tensor {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

interface DtypeInfo {
  readonly bytes: number;
  readonly npy: string;
  readonly ctor: { new (buffer: ArrayBuffer, offset: number, length: number): TensorData; name: string };
}

const DTYPES: Readonly<Record<Dtype, DtypeInfo>> = {
  F64: { bytes: 8, npy: '<f8', ctor: Float64Array },
  F32: { bytes: 4, npy: '<f4', ctor: Float32Array },
  F16: { bytes: 2, npy: '<f2', ctor: Uint16Array },
  I64: { bytes: 8, npy: '<i8', ctor: BigInt64Array },
  I32: { bytes: 4, npy: '<i4', ctor: Int32Array },
  I16: { bytes: 2, npy: '<i2', ctor: Int16Array },
  I8: { bytes: 1, npy: '|i1', ctor: Int8Array },
  U8: { bytes: 1, npy: '|u1', ctor: Uint8Array },
  U16: { bytes: 2, npy: '<u2', ctor: Uint16Array },
  U32: { bytes: 4, npy: '<u4', ctor: Uint32Array },
};

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('interop: this module writes typed arrays as little-endian bytes and needs a little-endian host');
}

/** Builds a tensor, checking that the shape matches the data and the dtype the array type. */
export function tensor(dtype: Dtype, shape: readonly number[], data: TensorData): Tensor {
  const info = DTYPES[dtype];
  if (info === undefined) throw new InvalidArgumentError(`interop/tensor: unknown dtype '${String(dtype)}'`);
  if (!(data instanceof info.ctor)) {
    throw new InvalidArgumentError(
      `interop/tensor: dtype ${dtype} needs a ${info.ctor.name}, got ${data.constructor.name}`,
    );
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (shape.some((s) => !Number.isInteger(s) || s < 0) || n !== data.length) {
    throw new InvalidArgumentError(
      `interop/tensor: shape [${shape.join(', ')}] holds ${n} values but the data has ${data.length}`,
    );
  }
  return { dtype, shape: [...shape], data };
}

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Copies `length` elements at byte `offset` of `bytes` into a fresh (aligned) typed array. */
function readData(dtype: Dtype, bytes: Uint8Array, offset: number, length: number): TensorData {
  const info = DTYPES[dtype];
  const copy = new Uint8Array(length * info.bytes);
  copy.set(bytes.subarray(offset, offset + copy.length));
  return new info.ctor(copy.buffer, 0, length);
}

/** The bytes of a safetensors file holding `tensors` (in insertion order) and string `metadata`. */
export function encodeSafetensors(
  tensors: Readonly<Record<string, Tensor>>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__')
      throw new InvalidArgumentError("interop/encodeSafetensors: '__metadata__' is reserved");
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    out.set(bytesOf(t), at);
    at += t.data.byteLength;
  }
  return out;
}

/** A decoded safetensors file. */
export interface Safetensors {
  readonly tensors: Record<string, Tensor>;
  readonly metadata: Record<string, string>;
}

/** Decodes safetensors bytes; `source` names the file in errors. Checks every offset against the file size. */
export function decodeSafetensors(bytes: Uint8Array, source: string): Safetensors {
  const bad = (what: string): never => {
    throw new DataFormatError(source, 0, `safetensors: ${what}`);
  };
  if (bytes.length < 8) bad(`${bytes.length} bytes is too short for the 8-byte header length`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > bytes.length - 8) bad(`header length ${n} runs past the end of the file (${bytes.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    return bad(`header is not JSON (${(err as Error).message})`);
  }
  const dataStart = 8 + n;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, d] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (d ?? {}) as Record<string, string>;
      continue;
    }
    const e = d as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const info = DTYPES[e.dtype as Dtype];
    if (info === undefined)
      bad(`tensor '${name}' has dtype ${String(e.dtype)}; this reader knows ${Object.keys(DTYPES).join(', ')}`);
    if (!Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) bad(`tensor '${name}' lacks shape or data_offsets`);
    const [begin, end] = e.data_offsets!;
    const count = e.shape!.reduce((a, b) => a * b, 1);
    if (!(begin >= 0 && end >= begin && dataStart + end <= bytes.length) || end - begin !== count * info.bytes) {
      bad(`tensor '${name}' offsets [${begin}, ${end}) do not fit its shape [${e.shape!.join(', ')}] or the file`);
    }
    tensors[name] = {
      dtype: e.dtype as Dtype,
      shape: e.shape!,
      data: readData(e.dtype as Dtype, bytes, dataStart + begin, count),
    };
  }
  return { tensors, metadata };
}

/** The bytes of a NumPy `.npy` (version 1.0) file holding `t`. */
export function encodeNpy(t: Tensor): Uint8Array {
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let h = `{'descr': '${DTYPES[t.dtype].npy}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + h.length + 1;
  h += ' '.repeat((64 - (total % 64)) % 64);
  h += '\n';
  const out = new Uint8Array(10 + h.length + t.data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, h.length, true);
  out.set(Buffer.from(h, 'latin1'), 10);
  out.set(bytesOf(t), 10 + h.length);
  return out;
}

/** Decodes a little-endian C-order `.npy` file (versions 1.0 to 3.0); `source` names it in errors. */
export function decodeNpy(bytes: Uint8Array, source: string): Tensor {
  const bad = (what: string): never => {
    throw new DataFormatError(source, 0, `npy: ${what}`);
  };
  if (bytes.length < 10 || bytes[0] !== 0x93 || Buffer.from(bytes.subarray(1, 6)).toString('latin1') !== 'NUMPY') {
    bad('missing the \\x93NUMPY magic');
  }
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const h = Buffer.from(bytes.subarray(start, start + hlen)).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(h)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(h)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(h)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    bad(`header '${h.trim()}' is not a .npy header`);
  if (fortran === 'True') bad('Fortran-order arrays are not supported; save with np.ascontiguousarray');
  const dtype = (Object.keys(DTYPES) as Dtype[]).find(
    (k) => DTYPES[k].npy === descr || DTYPES[k].npy === descr!.replace('=', '<'),
  );
  if (dtype === undefined)
    bad(
      `dtype '${descr}' is not supported (little-endian ${Object.values(DTYPES)
        .map((d) => d.npy)
        .join(', ')})`,
    );
  const shape = shapeText!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + hlen;
  if (dataStart + count * DTYPES[dtype!].bytes > bytes.length)
    bad(`data of shape (${shape.join(', ')}) runs past the end`);
  return { dtype: dtype!, shape, data: readData(dtype!, bytes, dataStart, count) };
}
