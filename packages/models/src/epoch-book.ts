import type { RetrievalMetrics } from './eval.js';
import type { MfBprResult, MfEpochReport } from './mf.js';
import type { Tower } from './tower.js';

/** What {@link EpochBook} needs of a trainer's options. */
export interface EpochBookOptions {
  readonly epochs: number;
  /** Evaluate every N epochs (0 = only after the last). */
  readonly evalEvery: number;
  /** Turn the towers into their served form before the last evaluation. */
  readonly finishTraining: boolean;
  readonly onEpoch?: ((report: MfEpochReport) => void) | undefined;
}

/**
 * The epoch-end bookkeeping every BPR trainer shares (kernel and generic path): losses, training
 * and evaluation time, evaluation on schedule (the served tables at the last epoch), last and best
 * metrics, the progress report and the run's {@link MfBprResult}.
 */
export class EpochBook {
  private trainMs = 0;
  private evalMs = 0;
  private readonly losses: number[] = [];
  private best: (RetrievalMetrics & { epoch: number }) | undefined;
  private last: RetrievalMetrics | undefined;

  /**
   * @param triples training triples per epoch
   * @param evaluate metrics of the towers as they are now (timed here)
   */
  constructor(
    private readonly o: EpochBookOptions,
    private readonly towers: readonly Tower[],
    private readonly triples: number,
    private readonly evaluate: () => RetrievalMetrics,
  ) {}

  /** Records epoch `epoch` (1-based) that took `ms` of training with summed loss `lossSum`. */
  endEpoch(epoch: number, lossSum: number, ms: number): void {
    const o = this.o;
    const n = this.triples;
    this.trainMs += ms;
    this.losses.push(lossSum / n);
    let metrics: RetrievalMetrics | undefined;
    if ((o.evalEvery > 0 && epoch % o.evalEvery === 0) || epoch === o.epochs) {
      if (epoch === o.epochs && o.finishTraining) for (const t of this.towers) t.finishTraining();
      const t = performance.now();
      metrics = this.evaluate();
      this.evalMs += performance.now() - t;
      this.last = metrics;
      if (!this.best || metrics.recall > this.best.recall) this.best = { ...metrics, epoch };
    }
    o.onEpoch?.({
      epoch,
      epochs: o.epochs,
      loss: lossSum / n,
      triplesPerSecond: n / (ms / 1000),
      ...(metrics ? { metrics } : {}),
    });
  }

  /** The run's outcome (after the last {@link endEpoch}). */
  result(): MfBprResult {
    return {
      final: this.last!,
      best: this.best!,
      epochs: this.o.epochs,
      trainSeconds: this.trainMs / 1000,
      evalSeconds: this.evalMs / 1000,
      triplesPerSecond: (this.triples * this.o.epochs) / (this.trainMs / 1000),
      losses: this.losses,
    };
  }
}
