import type { RetrievalMetrics } from './eval.js';
import type { MfBprOptions, MfBprResult, MfEpochAction } from './mf.js';
import type { Tower } from './tower.js';

/** What {@link EpochBook} needs of a trainer's options. */
export interface EpochBookOptions {
  readonly epochs: number;
  /** Evaluate every N epochs (0 = only after the last). */
  readonly evalEvery: number;
  /** Turn the towers into their served form before the last evaluation. */
  readonly finishTraining: boolean;
  readonly onEpoch?: MfBprOptions['onEpoch'] | undefined;
}

/** One evaluation: its metrics and the user/item embeddings it ranked with. */
export interface EpochEvaluation {
  readonly metrics: RetrievalMetrics;
  readonly embeddings: { readonly user: Float32Array; readonly item: Float32Array };
}

/**
 * The epoch-end bookkeeping every BPR trainer shares (kernel and generic path): losses, training
 * and evaluation time, evaluation on schedule (the served tables at the last epoch), last and best
 * metrics, the progress report, early stopping requested by `onEpoch`, and the run's
 * {@link MfBprResult}.
 */
export class EpochBook {
  private trainMs = 0;
  private evalMs = 0;
  private trained = 0;
  private readonly losses: number[] = [];
  private best: (RetrievalMetrics & { epoch: number }) | undefined;
  private last: RetrievalMetrics | undefined;

  /**
   * @param triples training triples per epoch
   * @param evaluate metrics of the towers as they are now, with the embeddings ranked (timed here)
   */
  constructor(
    private readonly o: EpochBookOptions,
    private readonly towers: readonly Tower[],
    private readonly triples: number,
    private readonly evaluate: () => EpochEvaluation,
  ) {}

  private evaluateNow(epoch: number): EpochEvaluation {
    const t = performance.now();
    const e = this.evaluate();
    this.evalMs += performance.now() - t;
    this.last = e.metrics;
    if (!this.best || e.metrics.recall > this.best.recall) this.best = { ...e.metrics, epoch };
    return e;
  }

  private finish(): void {
    if (this.o.finishTraining) for (const t of this.towers) t.finishTraining();
  }

  /**
   * Records epoch `epoch` (1-based) that took `ms` of training with summed loss `lossSum`.
   * Returns `'stop'` when `onEpoch` asked to end training before the last epoch; the towers are
   * then in their served form and the result's `final` metrics are the last evaluation's (this
   * epoch's only when nothing was evaluated before).
   */
  endEpoch(epoch: number, lossSum: number, ms: number): MfEpochAction {
    const o = this.o;
    const n = this.triples;
    this.trainMs += ms;
    this.trained = epoch;
    this.losses.push(lossSum / n);
    let evaluation: EpochEvaluation | undefined;
    if ((o.evalEvery > 0 && epoch % o.evalEvery === 0) || epoch === o.epochs) {
      if (epoch === o.epochs) this.finish();
      evaluation = this.evaluateNow(epoch);
    }
    const action = o.onEpoch?.({
      epoch,
      epochs: o.epochs,
      loss: lossSum / n,
      triplesPerSecond: n / (ms / 1000),
      ...(evaluation ? { metrics: evaluation.metrics, embeddings: evaluation.embeddings } : {}),
    });
    if (action !== 'stop' || epoch >= o.epochs) return undefined;
    this.finish();
    if (!this.last) this.evaluateNow(epoch);
    return 'stop';
  }

  /** The run's outcome (after the last {@link endEpoch}). */
  result(): MfBprResult {
    return {
      final: this.last!,
      best: this.best!,
      epochs: this.trained,
      trainSeconds: this.trainMs / 1000,
      evalSeconds: this.evalMs / 1000,
      triplesPerSecond: (this.triples * this.trained) / (this.trainMs / 1000),
      losses: this.losses,
    };
  }
}
