/**
 * In-process metrics of one encoder instance and their Prometheus text rendering. Durable counters
 * (applied, dead letters by reason...) come from the store, so they are exact across restarts and
 * instances; rates, lag and latencies are this instance's view.
 */
import { DEAD_LETTER_REASONS } from './codec.js';

/** Events-per-second over a sliding window of one-second buckets. */
export class RateMeter {
  private readonly buckets: Float64Array;
  private readonly stamps: Float64Array;

  /** @param windowSeconds length of the sliding window. */
  constructor(private readonly windowSeconds = 10) {
    this.buckets = new Float64Array(windowSeconds);
    this.stamps = new Float64Array(windowSeconds).fill(-1);
  }

  /** Records `n` events at `nowMs`. */
  add(n: number, nowMs = Date.now()): void {
    const sec = Math.floor(nowMs / 1000);
    const i = sec % this.windowSeconds;
    if (this.stamps[i] !== sec) {
      this.stamps[i] = sec;
      this.buckets[i] = 0;
    }
    this.buckets[i]! += n;
  }

  /** Mean rate over the completed seconds of the window (per second). */
  rate(nowMs = Date.now()): number {
    const sec = Math.floor(nowMs / 1000);
    let sum = 0;
    for (let i = 0; i < this.windowSeconds; i++) {
      const s = this.stamps[i]!;
      if (s < sec && s >= sec - (this.windowSeconds - 1)) sum += this.buckets[i]!;
    }
    return sum / (this.windowSeconds - 1);
  }
}

/** The last `capacity` latencies in a ring (no allocation per sample); quantiles by sorting a copy on read. */
export class LatencyRing {
  private readonly values: Float64Array;
  private next = 0;
  private count = 0;

  constructor(capacity = 8192) {
    this.values = new Float64Array(capacity);
  }

  /** Records one latency (seconds). */
  record(seconds: number): void {
    this.values[this.next] = seconds;
    this.next = (this.next + 1) % this.values.length;
    if (this.count < this.values.length) this.count++;
  }

  /** Samples held. */
  get size(): number {
    return this.count;
  }

  /** Quantiles (nearest rank) of the held samples; NaN when empty. */
  quantiles(qs: readonly number[]): number[] {
    if (this.count === 0) return qs.map(() => Number.NaN);
    const sorted = this.values.slice(0, this.count).sort();
    return qs.map((q) => sorted[Math.min(this.count - 1, Math.max(0, Math.ceil(q * this.count) - 1))]!);
  }
}

/** Everything {@link renderPrometheus} prints. */
export interface MetricsSnapshot {
  readonly topic: string;
  /** Per partition: stored next offset and the end offset last seen. */
  readonly partitions: readonly { partition: number; nextOffset: number; endOffset: number; owned: boolean }[];
  readonly eventsPerSecond: number;
  /** Store counters (see StoreCounter). */
  readonly counters: ReadonlyMap<string, number>;
  readonly activeVersion: string | undefined;
  readonly pendingVersion: string | undefined;
  readonly reencodeRemaining: number;
  /** HTTP latency quantiles (seconds; NaN when no request yet) and request count. */
  readonly requestLatencyP50: number;
  readonly requestLatencyP99: number;
  readonly requests: number;
  readonly consumerRestarts: number;
  readonly instanceId: string;
  /** Stopped partitions and a store that cannot be written (see runner's PartitionProblem). */
  readonly problems?: readonly { partition: number | undefined; kind: string }[];
  /** Store writes that failed and were retried. */
  readonly storeWriteFailures?: number;
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Prometheus text exposition (format 0.0.4) of a snapshot. */
export function renderPrometheus(m: MetricsSnapshot): string {
  const out: string[] = [];
  const t = esc(m.topic);
  const metric = (name: string, type: string, help: string): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  metric(
    'bse_consumer_lag',
    'gauge',
    'Messages between the stored consumed offset and the partition end, per partition.',
  );
  for (const p of m.partitions) {
    out.push(`bse_consumer_lag{topic="${t}",partition="${p.partition}"} ${Math.max(0, p.endOffset - p.nextOffset)}`);
  }
  metric('bse_partition_owned', 'gauge', 'Whether this instance currently consumes the partition.');
  for (const p of m.partitions)
    out.push(`bse_partition_owned{topic="${t}",partition="${p.partition}"} ${p.owned ? 1 : 0}`);
  metric('bse_events_per_second', 'gauge', 'Events consumed by this instance per second (10 s sliding window).');
  out.push(`bse_events_per_second ${m.eventsPerSecond.toFixed(2)}`);
  const c = (name: string): number => m.counters.get(name) ?? 0;
  metric('bse_events_applied_total', 'counter', 'Events that changed a user window (all instances of the store).');
  out.push(`bse_events_applied_total ${c('applied')}`);
  metric('bse_events_duplicate_total', 'counter', 'Events ignored as duplicates (eventId already in the window).');
  out.push(`bse_events_duplicate_total ${c('duplicates')}`);
  metric('bse_events_too_old_total', 'counter', 'Events ignored because they were older than the whole full window.');
  out.push(`bse_events_too_old_total ${c('too_old')}`);
  metric('bse_dead_letters_total', 'counter', 'Messages sent to the dead-letter topic, by reason.');
  let dlqTotal = 0;
  for (const r of DEAD_LETTER_REASONS) {
    out.push(`bse_dead_letters_total{reason="${r}"} ${c(`dlq:${r}`)}`);
    dlqTotal += c(`dlq:${r}`);
  }
  metric('bse_dead_letters_all_total', 'counter', 'Messages sent to the dead-letter topic, all reasons.');
  out.push(`bse_dead_letters_all_total ${dlqTotal}`);
  metric('bse_users', 'gauge', 'Users with a state.');
  out.push(`bse_users ${c('users')}`);
  metric('bse_model_info', 'gauge', 'Model versions: role="active" is served, role="pending" is being built.');
  if (m.activeVersion !== undefined) out.push(`bse_model_info{role="active",version="${esc(m.activeVersion)}"} 1`);
  if (m.pendingVersion !== undefined) out.push(`bse_model_info{role="pending",version="${esc(m.pendingVersion)}"} 1`);
  metric('bse_reencode_remaining_users', 'gauge', 'Users still to re-encode for the pending version.');
  out.push(`bse_reencode_remaining_users ${m.reencodeRemaining}`);
  metric('bse_http_request_duration_seconds', 'summary', 'HTTP request latency over the last 8192 requests.');
  out.push(`bse_http_request_duration_seconds{quantile="0.5"} ${fmt(m.requestLatencyP50)}`);
  out.push(`bse_http_request_duration_seconds{quantile="0.99"} ${fmt(m.requestLatencyP99)}`);
  out.push(`bse_http_request_duration_seconds_count ${m.requests}`);
  metric('bse_events_replaced_total', 'counter', 'Events that replaced a losing variant of the same eventId.');
  out.push(`bse_events_replaced_total ${c('replaced')}`);
  metric('bse_events_unknown_item_total', 'counter', 'Events applied whose item the active model does not know.');
  out.push(`bse_events_unknown_item_total ${c('unknown_items')}`);
  metric('bse_states_repaired_total', 'counter', 'Corrupted BSE states rebuilt from their window.');
  out.push(`bse_states_repaired_total ${c('repaired_states')}`);
  metric('bse_users_rebuilt_total', 'counter', 'Users whose corrupted window was rebuilt from the event log.');
  out.push(`bse_users_rebuilt_total ${c('rebuilt_users')}`);
  const problems = m.problems ?? [];
  metric('bse_store_writable', 'gauge', '0 while the state store cannot be written (full disk, I/O errors).');
  out.push(`bse_store_writable ${problems.some((p) => p.kind === 'store-unwritable') ? 0 : 1}`);
  metric('bse_store_write_failures_total', 'counter', 'Store writes that failed and were retried (this instance).');
  out.push(`bse_store_write_failures_total ${m.storeWriteFailures ?? 0}`);
  metric('bse_partition_stopped', 'gauge', 'Partitions stopped because their log or state cannot be trusted, by kind.');
  for (const p of problems) {
    if (p.partition !== undefined)
      out.push(`bse_partition_stopped{topic="${t}",partition="${p.partition}",kind="${esc(p.kind)}"} 1`);
  }
  metric('bse_consumer_restarts_total', 'counter', 'Consumer crashes followed by a restart.');
  out.push(`bse_consumer_restarts_total ${m.consumerRestarts}`);
  metric('bse_instance_info', 'gauge', 'This instance.');
  out.push(`bse_instance_info{instance_id="${esc(m.instanceId)}"} 1`);
  return `${out.join('\n')}\n`;
}

function fmt(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v.toExponential(4);
}

/** Parses Prometheus text into `name{labels}` → value (for tests and the load benchmark). */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
