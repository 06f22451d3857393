/**
 * One lazy-Adam step of one table row with the storage hooks applied after it — the single
 * definition of "a step" shared by the storages' generic path and the JavaScript kernels (the C++
 * kernels implement the same in `csrc/rowstep.h`).
 */
import { alptRoundRow, alptStepGradient, fakeQuantRow } from './quant.js';
import type { DenseTrainingView } from './storage.js';

/** Per-step constants of {@link denseRowStep} (see {@link adamStepConstants}). */
export interface RowStepParams {
  /** lr · √(1 − β2^t) / (1 − β1^t). */
  readonly stepSize: number;
  /** ε · √(1 − β2^t). */
  readonly epsHat: number;
  readonly beta1: number;
  readonly beta2: number;
  /** Coupled L2 on the row (added to the gradient). */
  readonly weightDecay: number;
  /** Optimizer step count t (1-based), the stochastic-rounding stream position. */
  readonly t: number;
  /** Whether to add |g| to the sparse hook's growth scores this step. */
  readonly score: boolean;
}

/** Bias-corrected Adam constants of step t (PyTorch SparseAdam arithmetic). */
export function adamStepConstants(
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  t: number,
): { stepSize: number; epsHat: number } {
  const c1 = 1 - beta1 ** t;
  const c2 = 1 - beta2 ** t;
  return { stepSize: (lr * Math.sqrt(c2)) / c1, epsHat: eps * Math.sqrt(c2) };
}

/**
 * Steps row r of `view` with gradient `g[gOff .. gOff + rowDim)`: Adam on the values, growth
 * scores, mask, then the low-precision hook — fake-quant forward row (STE), or for ALPT one Adam
 * step of the row's step size (its own lr `quant.stepLr`, LSQ gradient at the updated values, see
 * `alptStepGradient`) followed by stochastic rounding onto the new grid.
 */
export function denseRowStep(
  view: DenseTrainingView,
  rowDim: number,
  r: number,
  g: ArrayLike<number>,
  gOff: number,
  p: RowStepParams,
): void {
  const W = view.values;
  const M = view.m;
  const V = view.v;
  const o = r * rowDim;
  const { beta1: b1, beta2: b2, stepSize, epsHat, weightDecay: wd } = p;
  for (let c = 0; c < rowDim; c++) {
    const gc = g[gOff + c]! + wd * W[o + c]!;
    const mc = b1 * M[o + c]! + (1 - b1) * gc;
    const vc = b2 * V[o + c]! + (1 - b2) * gc * gc;
    M[o + c] = mc;
    V[o + c] = vc;
    W[o + c] = W[o + c]! - (stepSize * mc) / (Math.sqrt(vc) + epsHat);
  }
  const sp = view.sparse;
  if (sp !== null) {
    if (p.score) for (let c = 0; c < rowDim; c++) sp.scores[o + c]! += Math.abs(g[gOff + c]!);
    for (let c = 0; c < rowDim; c++) if (sp.mask[o + c] === 0) W[o + c] = 0;
  }
  const q = view.quant;
  if (q === null) return;
  if (q.mode === 'ste') {
    const F = q.forward!;
    fakeQuantRow(W.subarray(o, o + rowDim), 0, rowDim, q.bits, F.subarray(o, o + rowDim));
    return;
  }
  const S = q.steps!;
  const step = S[r]!;
  const gs = alptStepGradient(g, gOff, W, o, rowDim, q.bits, step);
  const mS = b1 * q.stepM![r]! + (1 - b1) * gs;
  const vS = b2 * q.stepV![r]! + (1 - b2) * gs * gs;
  q.stepM![r] = mS;
  q.stepV![r] = vS;
  // The steps' Adam shares t and the betas with the values' (bias correction √(1−β2^t)/(1−β1^t)).
  const stepStepSize = (q.stepLr * Math.sqrt(1 - b2 ** p.t)) / (1 - b1 ** p.t);
  S[r] = Math.max(step - (stepStepSize * mS) / (Math.sqrt(vS) + epsHat), 1e-8);
  alptRoundRow(W, o, rowDim, q.bits, S[r]!, q.seed, r, p.t);
}
