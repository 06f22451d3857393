/**
 * Click probabilities of one user's candidates from a loaded sequence model directory, with the user's
 * state from the streaming BSE encoder.
 *
 * Paths (the response names the one used):
 * - `bse`: SDIM with a BSE state of the model's own version — the long-term interest is read from the
 *   state's buckets (sdim's `readInterest`: hash the candidates, read buckets; O(candidates), not
 *   O(candidates × L)); the short-term module reads the user's last `shortLength` behaviours.
 * - `window`: the model over the raw behaviour window (DIN, avgpool, din-short; SDIM on a version
 *   mismatch with `onVersionMismatch: 'window'`). Equal to the offline model on the same history.
 * - Item id 0 is the item table's padding row: behaviours on item 0 are dropped from histories (with
 *   SDIM's default l2 or sum pooling they add nothing to a bucket either; with mean pooling they would
 *   change bucket counts, so do not send item 0 to an encoder serving a mean-pooled SDIM model).
 * - `cold-start`: the encoder has no state for the user: the model's empty-history path (no long- or
 *   short-term behaviours; the user-id embedding still applies), exactly what the offline model gives
 *   a user with an empty history.
 */
import { InvalidArgumentError, NotFoundError, UsageError } from '@compactrec/core';
import { type CtrBatch, type LoadedSequenceCtrModel, loadSequenceCtrModel, SEQUENCE_EXTRAS } from '@compactrec/ctr';
import { readInterest } from '@compactrec/sdim';
import type { Tf } from '@compactrec/tf-backend';
import type { UserState } from './user-state.js';

/** A bad request: HTTP status, a metrics reason and a one-line message. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/** Which path produced a prediction (see the module doc). */
export type PredictPath = 'bse' | 'window' | 'cold-start';

/** What to do when a user's BSE state was built by another model version. */
export type VersionMismatchPolicy = 'error' | 'window';

/** One prediction request after parsing. */
export interface PredictInput {
  /** The user-id field value (see {@link SequencePredictor.userFieldId}). */
  readonly userField: number;
  /** Other schema fields by name (none for the sequence formats of this build). */
  readonly context?: Readonly<Record<string, number>>;
  /** Candidate item ids (1 .. numItems). */
  readonly candidates: Int32Array;
  /** Short-term behaviours (oldest first) when the state source has no windows. */
  readonly recentItems?: Int32Array | undefined;
}

/** One prediction. */
export interface PredictOutput {
  readonly probabilities: Float32Array;
  readonly path: PredictPath;
}

/** A loaded sequence model ready to score requests (one per model version; see ModelSlot for rollout). */
export class SequencePredictor {
  readonly version: string;
  readonly dir: string;
  private ids = new Int32Array(0);
  private labels = new Float32Array(0);
  private cands = new Int32Array(0);
  private candEmb = new Float32Array(0);
  private longIn = new Float32Array(0);
  private readonly userMapScratch = new Int32Array(64);

  private constructor(
    readonly loaded: LoadedSequenceCtrModel,
    dir: string,
  ) {
    this.version = loaded.section.bseVersion;
    this.dir = dir;
  }

  /** Loads a sequence model directory (see `loadSequenceCtrModel`) and scores one probe request. */
  static async open(tf: Tf, dir: string): Promise<SequencePredictor> {
    const loaded = await loadSequenceCtrModel(tf, dir);
    if (loaded.block.feedbackTable !== null) {
      loaded.model.dispose();
      throw new UsageError(
        `ctr-app/SequencePredictor: '${dir}' is a ${loaded.kind} model whose behaviours carry feedback (numFeedback ${loaded.block.options.numFeedback}); the BSE encoder keeps items only, so it cannot be served — train with --behaviour-feedback none`,
      );
    }
    const p = new SequencePredictor(loaded, dir);
    try {
      p.predict({ userField: 0, candidates: Int32Array.of(1) }, { bse: null, window: null }, 'error');
    } catch (err) {
      loaded.model.dispose();
      throw err;
    }
    return p;
  }

  get kind(): string {
    return this.loaded.kind;
  }
  get numItems(): number {
    return this.loaded.block.numItems;
  }
  get maxLength(): number {
    return this.loaded.block.maxLength;
  }
  get shortLength(): number {
    return this.loaded.block.shortLength;
  }
  /** Fields besides the user id a request must carry (`context`). */
  get contextFields(): string[] {
    return this.loaded.model.schema.fieldNames.filter((f) => f !== 'user_id');
  }
  /**
   * Whether the model reads the long-term interest from BSE states: SDIM without behaviour side
   * features (the encoder's buckets sum item embeddings; with feedback or age the buckets would need
   * the value vectors, so such a model scores the raw window instead).
   */
  get usesBse(): boolean {
    const b = this.loaded.block;
    return this.loaded.bseModel !== null && b.feedbackTable === null && b.ageTable === null;
  }

  /**
   * The user-id field value of `userId`: a decimal integer the user-id field's mapper can place (IDs
   * beyond the trained space only with hashing methods); else a 422 `unknown_user`.
   */
  userFieldId(userId: string): number {
    const n = /^(0|[1-9][0-9]{0,9})$/.test(userId) ? Number(userId) : Number.NaN;
    const f = this.loaded.model.schema.fieldNames.indexOf('user_id');
    if (f < 0) return 0;
    const mapper = this.loaded.model.mappers[f]!;
    if (!Number.isSafeInteger(n) || n > 0x7fffffff) {
      throw new RequestError(
        422,
        'unknown_user',
        `userId '${userId}' is not a decimal user id of this model (0 .. ${mapper.numIds - 1})`,
      );
    }
    try {
      mapper.mapInto([n], this.userMapScratch, 1);
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof InvalidArgumentError) {
        throw new RequestError(
          422,
          'unknown_user',
          `userId '${userId}' is outside the model's user ids 0 .. ${mapper.numIds - 1} and its '${mapper.method}' user table cannot hash unseen ids`,
        );
      }
      throw err;
    }
    return n;
  }

  private grow(n: number): void {
    if (this.cands.length >= n) return;
    const d = this.loaded.block.dim;
    const F = this.loaded.model.numFields;
    this.ids = new Int32Array(n * F);
    this.labels = new Float32Array(n);
    this.cands = new Int32Array(n);
    this.candEmb = new Float32Array(n * d);
    this.longIn = new Float32Array(n * d);
  }

  /** Scores `input` for a user whose encoder state is `state` (see the module doc for the paths). */
  predict(input: PredictInput, state: UserState, onVersionMismatch: VersionMismatchPolicy): PredictOutput {
    const { block, model } = this.loaded;
    const n = input.candidates.length;
    const numItems = block.numItems;
    for (let i = 0; i < n; i++) {
      const c = input.candidates[i]!;
      if (!(c >= 1 && c <= numItems)) {
        throw new RequestError(
          422,
          'unknown_item',
          `candidates[${i}].itemId ${c} is not an item of this model (1 .. ${numItems}); the item table has no row for unseen items`,
        );
      }
    }
    this.grow(n);
    const L = this.maxLength;
    const S = this.shortLength;
    const d = block.dim;
    const fields = model.schema.fieldNames;
    const F = fields.length;
    const ids = this.ids;
    for (let f = 0; f < F; f++) {
      const name = fields[f]!;
      const v = name === 'user_id' ? input.userField : input.context?.[name];
      if (v === undefined) throw new RequestError(400, 'missing_field', `context.${name} is required by this model`);
      for (let i = 0; i < n; i++) ids[i * F + f] = v;
    }
    const cands = this.cands.subarray(0, n);
    cands.set(input.candidates);
    let path: PredictPath;
    let history: Int32Array | null = state.window;
    let useState = false;
    const bse = state.bse;
    if (this.usesBse && bse !== null) {
      if (bse.version !== this.version) {
        if (onVersionMismatch === 'window' && state.window !== null) useState = false;
        else {
          throw new RequestError(
            409,
            'bse_version_mismatch',
            `the BSE state of this user was built by model version '${bse.version}' but this model is '${this.version}'; switch the encoder to '${this.version}' (POST /v1/admin/model) or reload the matching model — versions are never mixed`,
          );
        }
      } else if (bse.length > L) {
        throw new RequestError(
          409,
          'bse_window_mismatch',
          `the BSE state holds ${bse.length} behaviours but the model's L is ${L}; run the encoder with --window-length ${L}`,
        );
      } else useState = true;
      if (useState && history === null) {
        if (input.recentItems === undefined) {
          throw new RequestError(
            400,
            'missing_field',
            'recentItems is required: the BSE HTTP API serves states, not behaviour windows, so the request carries the short-term behaviours',
          );
        }
        history = input.recentItems;
      }
    } else if (this.usesBse) {
      history = null; // no state: cold start
    }
    if (history?.includes(0)) {
      // Item 0 is the item table's padding row (zero, never trained): a behaviour on it carries nothing
      // (its zero vector adds nothing to an l2- or sum-pooled bucket), so it is dropped from the history.
      history = history.filter((h) => h !== 0);
    }
    if (history !== null) {
      for (let j = 0; j < history.length; j++) {
        const h = history[j]!;
        if (!(h >= 1 && h <= numItems)) {
          throw new RequestError(
            useState && state.window === null ? 422 : 409,
            useState && state.window === null ? 'unknown_item' : 'bad_user_state',
            `behaviour ${j} of the user's history has item id ${h}, not an item of this model (1 .. ${numItems})`,
          );
        }
      }
    }
    const len = history === null ? 0 : Math.min(history.length, useState ? S : L);
    const userHistory = history === null ? new Int32Array(0) : history.subarray(history.length - len);
    const extras: Record<string, Int32Array | Float32Array> = {
      [SEQUENCE_EXTRAS.candidates]: cands,
      [SEQUENCE_EXTRAS.userHistory]: userHistory,
    };
    if (useState) {
      const bm = this.loaded.bseModel!;
      // The candidates' rows as the item embedding serves them (compressed tables decode here).
      const candEmb = this.candEmb;
      block.items.lookup(cands, candEmb, n);
      const longIn = this.longIn.subarray(0, n * d);
      readInterest(bse!, bm.hasher, candEmb, n, longIn, block.options.sdimPooling);
      extras[SEQUENCE_EXTRAS.longInterest] = longIn;
      path = 'bse';
    } else path = history === null || len === 0 ? 'cold-start' : 'window';
    const batch: CtrBatch = {
      size: n,
      ids: ids.subarray(0, n * F),
      labels: this.labels.subarray(0, n),
      dense: null,
      extras,
    };
    return { probabilities: model.predict(batch), path };
  }

  dispose(): void {
    this.loaded.model.dispose();
  }
}
