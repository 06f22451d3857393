import { Rng } from '@compactrec/core';
import type { Tf, TfBackendName } from '@compactrec/tf-backend';

/** Loss, gradients and weights after a few Adam steps of a small seeded MLP (32 → 48 → 16 → 1, BCE). */
export interface MlpResult {
  readonly loss: number;
  /** All gradients (w1, b1, w2, b2, w3, b3) concatenated. */
  readonly grads: Float32Array;
  /** All weights after 3 Adam steps, concatenated. */
  readonly weightsAfterAdam: Float32Array;
}

const SHAPES: readonly (readonly number[])[] = [[32, 48], [48], [48, 16], [16], [16, 1], [1]];

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Runs the same seeded MLP forward/backward and 3 Adam steps on `backend` of `tf`. */
export async function mlpStep(tf: Tf, backend: TfBackendName, seed: number): Promise<MlpResult> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} failed to initialise`);
  const rng = new Rng(seed);
  const batch = 64;
  const xData = new Float32Array(batch * 32);
  rng.fillNormal(xData);
  const yData = new Float32Array(batch);
  for (let i = 0; i < batch; i++) yData[i] = xData[i * 32]! + 0.5 * xData[i * 32 + 1]! > 0 ? 1 : 0;
  const x = tf.tensor2d(xData, [batch, 32]);
  const y = tf.tensor2d(yData, [batch, 1]);
  const vars = SHAPES.map((shape, i) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const init = new Float32Array(size);
    rng.fillNormal(init, i % 2 === 0 ? Math.sqrt(2 / shape[0]!) : 0.1);
    return tf.variable(tf.tensor(init, [...shape]), true, `mlp_${backend}_${seed}_${i}`);
  });
  const [w1, b1, w2, b2, w3, b3] = vars as [
    ReturnType<Tf['variable']>,
    ReturnType<Tf['variable']>,
    ReturnType<Tf['variable']>,
    ReturnType<Tf['variable']>,
    ReturnType<Tf['variable']>,
    ReturnType<Tf['variable']>,
  ];
  const lossFn = () =>
    tf.tidy(() => {
      const h1 = tf.relu(tf.add(tf.matMul(x, w1), b1));
      const h2 = tf.relu(tf.add(tf.matMul(h1, w2), b2));
      const logits = tf.add(tf.matMul(h2, w3), b3);
      return tf.losses.sigmoidCrossEntropy(y, logits) as ReturnType<Tf['scalar']>;
    });
  const { value, grads } = tf.variableGrads(lossFn, vars);
  const loss = (await value.data())[0]!;
  const gradArrays: Float32Array[] = [];
  for (const v of vars) gradArrays.push((await grads[v.name]!.data()) as Float32Array);
  value.dispose();
  tf.dispose(Object.values(grads));
  const opt = tf.train.adam(0.01);
  for (let s = 0; s < 3; s++) tf.dispose(opt.minimize(lossFn, false, vars));
  const weights: Float32Array[] = [];
  for (const v of vars) weights.push((await v.data()) as Float32Array);
  opt.dispose();
  tf.dispose([x, y, ...vars]);
  return { loss, grads: concat(gradArrays), weightsAfterAdam: concat(weights) };
}

/** max |a − b| over max |b|: a relative error that does not blow up on near-zero entries. */
export function maxRelDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}
