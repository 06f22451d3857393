import { InvalidArgumentError, type Rng } from '@compactrec/core';
import type { Tf } from '@compactrec/tf-backend';
import type * as tfjs from '@tensorflow/tfjs';
import { ParamSet } from './params.js';

/** The CTR model architectures. */
export type CtrModelKind = 'lr' | 'dnn' | 'deepfm' | 'dcnv2' | 'dlrm';

/** Every {@link CtrModelKind}, in display order. */
export const CTR_MODEL_KINDS: readonly CtrModelKind[] = Object.freeze(['lr', 'dnn', 'deepfm', 'dcnv2', 'dlrm']);

/** How DCN-V2 combines its cross network with the MLP. */
export type DcnStructure = 'parallel' | 'stacked';

/** Architecture settings of a network (resolved; see `CtrModelOptions` for defaults and meaning). */
export interface CtrNetConfig {
  readonly kind: CtrModelKind;
  readonly numFields: number;
  readonly dim: number;
  /** Dense input width: the schema's dense features plus every input block's width. */
  readonly denseWidth: number;
  readonly mlp: readonly number[];
  readonly dropout: number;
  readonly crossLayers: number;
  readonly dcnStructure: DcnStructure;
  readonly bottomMlp: readonly number[];
}

/** What a network reads per batch. */
export interface CtrNetInputs {
  /** Field embeddings `[B, F, dim]` (null when the network does not use them). */
  readonly emb: tfjs.Tensor | null;
  /** First-order field weights `[B, F]` (null when unused). */
  readonly first: tfjs.Tensor | null;
  /** Dense input `[B, denseWidth]` (null when denseWidth is 0). */
  readonly dense: tfjs.Tensor | null;
}

/**
 * How a network decomposes for the native fast training step (see `NativeTower`): an MLP over
 * `[flattened embeddings, dense input]` ending in a width-1 logit layer, plus (DeepFM) a bias, the
 * first-order sum and the FM term, which the step computes on typed arrays.
 */
export interface CtrTowerSpec {
  /** `[weight index, bias index]` of each MLP layer, the logit layer last. */
  readonly layers: readonly (readonly [number, number])[];
  /** Parameter index of the global bias added to the logit (DeepFM), or null. */
  readonly bias: number | null;
  /** Whether Σ_f first-order weights are added to the logit. */
  readonly firstOrder: boolean;
  /** Whether the FM second-order term of the field embeddings is added to the logit. */
  readonly fm: boolean;
}

/**
 * A CTR network over per-field embeddings: its dense parameters and a forward that maps inputs to
 * logits `[B]`. Parameters come in as a tensor list (see {@link ParamSet}).
 */
export interface CtrNet {
  readonly config: CtrNetConfig;
  /** Whether the forward reads `emb` (d-dim field embeddings). */
  readonly usesEmbeddings: boolean;
  /** Whether the forward reads `first` (1-dim first-order weights). */
  readonly usesFirstOrder: boolean;
  readonly params: ParamSet;
  /** Present when the network is a tower the native fast step can train (dnn, deepfm). */
  readonly tower?: CtrTowerSpec;
  /** Logits `[B]`. `seed` makes dropout deterministic per step. */
  forward(tf: Tf, x: CtrNetInputs, p: readonly tfjs.Tensor[], training: boolean, seed: number): tfjs.Tensor;
}

interface Mlp {
  layers: [number, number][];
  out: number;
}

function buildMlp(params: ParamSet, name: string, fanIn: number, hidden: readonly number[], rng: Rng): Mlp {
  const layers: [number, number][] = [];
  let width = fanIn;
  hidden.forEach((h, i) => {
    layers.push(params.linear(`${name}/${i}`, width, h, rng));
    width = h;
  });
  return { layers, out: width };
}

function runMlp(
  tf: Tf,
  mlp: Mlp,
  x: tfjs.Tensor,
  p: readonly tfjs.Tensor[],
  dropout: number,
  training: boolean,
  seed: number,
): tfjs.Tensor {
  let h = x;
  mlp.layers.forEach(([w, b], i) => {
    h = tf.relu(tf.add(tf.matMul(h as tfjs.Tensor2D, p[w] as tfjs.Tensor2D), p[b]!));
    if (training && dropout > 0) h = tf.dropout(h, dropout, undefined, seed * 31 + i);
  });
  return h;
}

/** x · w + b as a `[B]` vector, for a `[fanIn × 1]` output layer. */
function head(tf: Tf, x: tfjs.Tensor, p: readonly tfjs.Tensor[], [w, b]: [number, number]): tfjs.Tensor {
  return tf.reshape(tf.add(tf.matMul(x as tfjs.Tensor2D, p[w] as tfjs.Tensor2D), p[b]!), [-1]);
}

/** `[B, F·dim (+ denseWidth)]`: flattened embeddings, then the dense input. */
function flatInput(tf: Tf, x: CtrNetInputs, c: CtrNetConfig): tfjs.Tensor {
  const flat = tf.reshape(x.emb!, [-1, c.numFields * c.dim]);
  return x.dense ? tf.concat([flat, x.dense], 1) : flat;
}

/** The FM second-order term ½ Σ_d[(Σ_f e)² − Σ_f e²], `[B]`. */
export function fmTerm(tf: Tf, emb: tfjs.Tensor): tfjs.Tensor {
  const sum = tf.sum(emb, 1);
  const sumSq = tf.sum(tf.square(emb), 1);
  return tf.mul(0.5, tf.sum(tf.sub(tf.square(sum), sumSq), 1));
}

function checkConfig(c: CtrNetConfig): void {
  const where = 'ctr/buildCtrNet';
  const ints: [string, number, number][] = [
    ['numFields', c.numFields, 1],
    ['dim', c.dim, 1],
    ['denseWidth', c.denseWidth, 0],
    ['crossLayers', c.crossLayers, 0],
  ];
  for (const [name, v, min] of ints) {
    if (!Number.isInteger(v) || v < min)
      throw new InvalidArgumentError(`${where}: ${name} (${v}) must be an integer ≥ ${min}`);
  }
  for (const [name, list] of [
    ['mlp', c.mlp],
    ['bottomMlp', c.bottomMlp],
  ] as const) {
    for (const h of list) {
      if (!Number.isInteger(h) || h < 1) {
        throw new InvalidArgumentError(`${where}: ${name} layer width (${h}) must be a positive integer`);
      }
    }
  }
  if (!(c.dropout >= 0 && c.dropout < 1))
    throw new InvalidArgumentError(`${where}: dropout (${c.dropout}) must be in [0, 1)`);
  if (c.dcnStructure !== 'parallel' && c.dcnStructure !== 'stacked') {
    throw new InvalidArgumentError(
      `${where}: dcnStructure ('${String(c.dcnStructure)}') must be 'parallel' or 'stacked'`,
    );
  }
}

/**
 * Builds one architecture's parameters (seeded by `rng`) and forward:
 * - `lr`: bias + Σ_f w_f(id_f) (+ a linear layer over the dense input);
 * - `dnn`: MLP over [flattened embeddings, dense input] → linear;
 * - `deepfm`: bias + first-order + FM second-order + MLP (Guo et al. 2017);
 * - `dcnv2`: full-rank cross layers x_{l+1} = x0 ⊙ (W x_l + b) + x_l (Wang et al. 2021), `parallel`
 *   (concat with the MLP output, then linear) or `stacked` (cross then MLP);
 * - `dlrm`: bottom MLP over the dense input to dim (when there is one), pairwise dot products of
 *   all field vectors (strict upper triangle), top MLP over [bottom output, dots] (Naumov et al. 2019).
 */
export function buildCtrNet(config: CtrNetConfig, rng: Rng): CtrNet {
  checkConfig(config);
  const c = config;
  const params = new ParamSet();
  const F = c.numFields;
  const flatWidth = F * c.dim + c.denseWidth;
  switch (c.kind) {
    case 'lr': {
      const bias = params.add('bias', [1], new Float32Array(1));
      const lin = c.denseWidth > 0 ? params.linear('dense', c.denseWidth, 1, rng, true) : null;
      return {
        config: c,
        usesEmbeddings: false,
        usesFirstOrder: true,
        params,
        forward(tf, x, p) {
          let z = tf.add(tf.sum(x.first!, 1), p[bias]!);
          if (lin && x.dense) z = tf.add(z, head(tf, x.dense, p, lin));
          return z;
        },
      };
    }
    case 'dnn': {
      const mlp = buildMlp(params, 'mlp', flatWidth, c.mlp, rng);
      const out = params.linear('out', mlp.out, 1, rng);
      return {
        config: c,
        usesEmbeddings: true,
        usesFirstOrder: false,
        params,
        tower: { layers: [...mlp.layers, out], bias: null, firstOrder: false, fm: false },
        forward(tf, x, p, training, seed) {
          return head(tf, runMlp(tf, mlp, flatInput(tf, x, c), p, c.dropout, training, seed), p, out);
        },
      };
    }
    case 'deepfm': {
      const bias = params.add('bias', [1], new Float32Array(1));
      const mlp = buildMlp(params, 'mlp', flatWidth, c.mlp, rng);
      const out = params.linear('out', mlp.out, 1, rng);
      return {
        config: c,
        usesEmbeddings: true,
        usesFirstOrder: true,
        params,
        tower: { layers: [...mlp.layers, out], bias, firstOrder: true, fm: true },
        forward(tf, x, p, training, seed) {
          const linear = tf.add(tf.sum(x.first!, 1), p[bias]!);
          const deep = head(tf, runMlp(tf, mlp, flatInput(tf, x, c), p, c.dropout, training, seed), p, out);
          return tf.add(tf.add(linear, fmTerm(tf, x.emb!)), deep);
        },
      };
    }
    case 'dcnv2': {
      const cross: [number, number][] = [];
      for (let l = 0; l < c.crossLayers; l++) cross.push(params.linear(`cross/${l}`, flatWidth, flatWidth, rng, true));
      const mlp = buildMlp(params, 'mlp', flatWidth, c.mlp, rng);
      const outWidth = c.dcnStructure === 'parallel' ? flatWidth + mlp.out : mlp.out;
      const out = params.linear('out', outWidth, 1, rng);
      return {
        config: c,
        usesEmbeddings: true,
        usesFirstOrder: false,
        params,
        forward(tf, x, p, training, seed) {
          const x0 = flatInput(tf, x, c);
          let xl = x0;
          for (const [w, b] of cross) {
            xl = tf.add(tf.mul(x0, tf.add(tf.matMul(xl as tfjs.Tensor2D, p[w] as tfjs.Tensor2D), p[b]!)), xl);
          }
          if (c.dcnStructure === 'stacked') return head(tf, runMlp(tf, mlp, xl, p, c.dropout, training, seed), p, out);
          const deep = runMlp(tf, mlp, x0, p, c.dropout, training, seed);
          return head(tf, tf.concat([xl, deep], 1), p, out);
        },
      };
    }
    case 'dlrm': {
      const bottom = c.denseWidth > 0 ? buildMlp(params, 'bottom', c.denseWidth, [...c.bottomMlp, c.dim], rng) : null;
      const n = F + (bottom ? 1 : 0);
      const pairs: number[] = [];
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push(i * n + j);
      const pairIdx = Int32Array.from(pairs);
      const topIn = pairs.length + (bottom ? c.dim : 0);
      const mlp = buildMlp(params, 'top', topIn, c.mlp, rng);
      const out = params.linear('out', mlp.out, 1, rng);
      return {
        config: c,
        usesEmbeddings: true,
        usesFirstOrder: false,
        params,
        forward(tf, x, p, training, seed) {
          let z = x.emb!;
          let bot: tfjs.Tensor | null = null;
          if (bottom && x.dense) {
            bot = runMlp(tf, bottom, x.dense, p, 0, training, seed);
            z = tf.concat([tf.expandDims(bot, 1), z], 1);
          }
          const dots = tf.reshape(tf.matMul(z as tfjs.Tensor3D, z as tfjs.Tensor3D, false, true), [-1, n * n]);
          const inter = pairs.length > 0 ? tf.gather(dots, tf.tensor1d(pairIdx, 'int32'), 1) : null;
          const parts = [bot, inter].filter((t): t is tfjs.Tensor => t !== null);
          const top = parts.length === 1 ? parts[0]! : tf.concat(parts, 1);
          return head(tf, runMlp(tf, mlp, top, p, c.dropout, training, seed), p, out);
        },
      };
    }
    default:
      throw new InvalidArgumentError(
        `ctr/buildCtrNet: unknown model '${String((c as { kind: unknown }).kind)}'; use one of ${CTR_MODEL_KINDS.join(', ')}`,
      );
  }
}
