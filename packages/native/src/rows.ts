import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  type Combine,
  JS_ROW_KERNELS,
  type PendingRowGrads,
  type RowKernels,
  type RowKernelView,
  type RowStepParams,
} from '@compactrec/core';

/** Where the row-kernel addon (csrc/rows.cc, built with -ffp-contract=off) is built. */
export const ROWS_ADDON_PATH = fileURLToPath(new URL('../build/Release/compactrec_rows.node', import.meta.url));

/** The functions of the row-kernel addon (positional arguments; see csrc/rows.cc); two take RowKernels' own. */
interface RowsAddon {
  gatherRows: RowKernels['gatherRows'];
  accumulateRows(
    slot: Int32Array,
    touched: Int32Array,
    grads: Float32Array,
    count: number,
    width: number,
    rowIds: Int32Array,
    n: number,
    g: Float32Array,
    gOff: number,
    gStride: number,
    codesPerItem: number,
    codeStride: number,
    scale: number,
  ): number;
  stepRows(
    values: Float32Array,
    m: Float32Array,
    v: Float32Array,
    width: number,
    touched: Int32Array,
    grads: Float32Array,
    count: number,
    slot: Int32Array,
    stepSize: number,
    epsHat: number,
    beta1: number,
    beta2: number,
    weightDecay: number,
  ): void;
  gatherCombineRows(
    src: Float32Array,
    rowDim: number,
    rowIds: Int32Array,
    n: number,
    codesPerItem: number,
    combine: number,
    out: Float32Array,
    outOffset: number,
    outStride: number,
    rowsOut: Float32Array | null,
  ): number;
  multGradRows: RowKernels['multGradRows'];
}

/** The addon's code of each composition (csrc/rows.cc `gatherCombineRows`). */
const COMBINE_CODE: Readonly<Record<Combine, number>> = Object.freeze({ sum: 0, mult: 1, concat: 2 });

function nativeRowKernels(addon: RowsAddon): RowKernels {
  const kernels: RowKernels = {
    kind: 'native',
    gatherRows: addon.gatherRows,
    accumulateRows(
      acc: PendingRowGrads,
      rowIds: Int32Array,
      n: number,
      g: Float32Array,
      gOff: number,
      gStride: number,
      codesPerItem: number,
      codeStride: number,
    ) {
      acc.reserve(n * codesPerItem); // the kernel adds rows but never grows the arrays
      const c = addon.accumulateRows(
        acc.slot,
        acc.touched,
        acc.grads,
        acc.count,
        acc.width,
        rowIds,
        n,
        g,
        gOff,
        gStride,
        codesPerItem,
        codeStride,
        1,
      );
      if (c < 0) return -1 - c;
      acc.count = c;
      return -1;
    },
    stepRows(view: RowKernelView, acc: PendingRowGrads, p: RowStepParams) {
      // The storage hooks (fake quantization, ALPT, DSL masks) stay on core's row step.
      if (view.quant !== null || view.sparse !== null || acc.count === 0) {
        acc.stepRows(view, p);
        return;
      }
      addon.stepRows(
        view.values,
        view.m,
        view.v,
        acc.width,
        acc.touched,
        acc.grads,
        acc.count,
        acc.slot,
        p.stepSize,
        p.epsHat,
        p.beta1,
        p.beta2,
        p.weightDecay,
      );
      acc.count = 0;
    },
    gatherCombineRows(src, rowDim, rowIds, n, codesPerItem, combine, out, outOffset, outStride, rowsOut) {
      const code = COMBINE_CODE[combine];
      if (code === undefined)
        throw new TypeError(`native/gatherCombineRows: combine '${combine}' is not sum, mult or concat`);
      return addon.gatherCombineRows(src, rowDim, rowIds, n, codesPerItem, code, out, outOffset, outStride, rowsOut);
    },
    multGradRows: addon.multGradRows,
  };
  return Object.freeze(kernels);
}

let cached: { kernels: RowKernels | null; reason: string } | undefined;

function loadAddon(): { kernels: RowKernels | null; reason: string } {
  if (cached) return cached;
  if (!existsSync(ROWS_ADDON_PATH)) {
    cached = { kernels: null, reason: `row-kernel addon not built (${ROWS_ADDON_PATH})` };
  } else {
    try {
      const addon = createRequire(import.meta.url)(ROWS_ADDON_PATH) as RowsAddon;
      cached = { kernels: nativeRowKernels(addon), reason: `loaded ${ROWS_ADDON_PATH}` };
    } catch (err) {
      cached = { kernels: null, reason: `row-kernel addon failed to load: ${(err as Error).message}` };
    }
  }
  return cached;
}

/**
 * The row kernels a dense storage trains with: the C++ ones when built, else core's JavaScript ones
 * (same results, slower). `COMPACTREC_KERNELS=js` selects JavaScript; it is read at every call, so a
 * storage created under it keeps the JavaScript kernels (benchmarks compare both in one process).
 */
export function rowKernels(): RowKernels {
  if (process.env.COMPACTREC_KERNELS === 'js') return JS_ROW_KERNELS;
  return loadAddon().kernels ?? JS_ROW_KERNELS;
}

/** Which row kernels {@link rowKernels} returns now, and why. */
export function rowKernelsInfo(): { kind: 'native' | 'js'; reason: string } {
  if (process.env.COMPACTREC_KERNELS === 'js') return { kind: 'js', reason: 'COMPACTREC_KERNELS=js' };
  const { kernels, reason } = loadAddon();
  return { kind: kernels ? 'native' : 'js', reason };
}
