/**
 * Blue/green model switch. While the store names a pending version, every instance's re-encoder
 * builds that version's state for users that lack it, from their stored windows (small transactions,
 * yielding in between so ingest and reads go on), while ingest keeps BOTH versions up to date for
 * users that have both. Once no user lacks it, one transaction makes it the served version and drops
 * the old one. Reads see the old version until that commit, then the new one: never a mix per user.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ModelRegistry } from './models.js';
import { CorruptWindowError, type StateStore } from './store.js';

/** Options of {@link Reencoder}. */
export interface ReencoderOptions {
  /** Users re-encoded per transaction. @default 200 */
  usersPerStep?: number;
  /** How often to look for a pending version, ms. @default 500 */
  pollMs?: number;
  /** Pause between two re-encode transactions, ms: throttles a switch to leave the CPU to ingest. @default 0 */
  pauseMs?: number;
  /** Log sink. */
  log?: (level: 'error' | 'warn' | 'info', message: string, extra?: Record<string, unknown>) => void;
}

/** Runs re-encodes of pending model versions in the background. */
export class Reencoder {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly usersPerStep: number;
  private readonly pollMs: number;
  private readonly pauseMs: number;
  private readonly log: NonNullable<ReencoderOptions['log']>;
  /** Versions this instance switched to (for logs/tests). */
  readonly completed: string[] = [];
  /** Set while the pending switch cannot progress because a user's window is corrupted (reported by /healthz). */
  blocked: CorruptWindowError | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly models: ModelRegistry,
    options: ReencoderOptions = {},
  ) {
    this.usersPerStep = options.usersPerStep ?? 200;
    this.pollMs = options.pollMs ?? 500;
    this.pauseMs = options.pauseMs ?? 0;
    this.log = options.log ?? (() => {});
  }

  /** Starts polling. */
  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.tick()
        .then(() => {
          this.blocked = undefined;
        })
        .catch((err) => {
          if (err instanceof CorruptWindowError) this.blocked = err;
          this.log('error', 'bse-stream/reencoder: re-encode step failed; will retry', { error: String(err) });
        })
        .finally(() => this.schedule(this.pollMs));
    }, ms);
  }

  /** One pass: if a version is pending, re-encodes every user lacking it and switches. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const { pending } = this.store.versions();
      if (pending === undefined) return;
      const model = await this.models.ensure(pending);
      this.log('info', 'bse-stream/reencoder: re-encoding users for a new model version', { version: pending });
      for (;;) {
        if (this.stopped) return;
        const n = this.store.reencodeStep(model, this.usersPerStep);
        if (n < 0) return; // no longer pending (switched by another instance or replaced)
        if (n === 0) {
          if (this.store.completeReencode(pending)) {
            this.completed.push(pending);
            this.log('info', 'bse-stream/reencoder: now serving the new model version', { version: pending });
          }
          return;
        }
        if (this.pauseMs > 0) await new Promise((r) => setTimeout(r, this.pauseMs));
        else await yieldToLoop();
      }
    } finally {
      this.running = false;
    }
  }

  /** Stops polling (the current step's transaction is atomic, so stopping anywhere is safe). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
