import { LatencyRing, parsePrometheus, RateMeter, renderPrometheus } from '@compactrec/bse-stream';
import { describe, expect, it } from 'vitest';

describe('metrics', () => {
  it('LatencyRing gives nearest-rank quantiles of the last samples only', () => {
    const ring = new LatencyRing(100);
    expect(Number.isNaN(ring.quantiles([0.5])[0]!)).toBe(true);
    for (let i = 1; i <= 100; i++) ring.record(i);
    expect(ring.quantiles([0.5, 0.99, 1])).toEqual([50, 99, 100]);
    for (let i = 0; i < 100; i++) ring.record(1000); // overwrites every old sample
    expect(ring.quantiles([0.01])).toEqual([1000]);
    expect(ring.size).toBe(100);
  });

  it('RateMeter averages over the completed seconds of its window', () => {
    const m = new RateMeter(5);
    const t0 = 1_000_000;
    for (let s = 0; s < 4; s++) m.add(100, t0 + s * 1000);
    expect(m.rate(t0 + 4000)).toBe(100); // 4 full seconds of 100 over 4 completed seconds
    expect(m.rate(t0 + 60_000)).toBe(0);
  });

  it('renders lag per partition, DLQ counts by reason and the latency summary', () => {
    const ring = new LatencyRing(10);
    ring.record(0.002);
    const text = renderPrometheus({
      topic: 'events',
      partitions: [
        { partition: 0, nextOffset: 90, endOffset: 100, owned: true },
        { partition: 1, nextOffset: 5, endOffset: 5, owned: false },
      ],
      eventsPerSecond: 1234.5,
      counters: new Map([
        ['applied', 95],
        ['dlq:not-json', 2],
        ['dlq:oversize', 1],
      ]),
      activeVersion: 'v1',
      pendingVersion: undefined,
      reencodeRemaining: 0,
      requestLatencyP50: ring.quantiles([0.5])[0]!,
      requestLatencyP99: ring.quantiles([0.99])[0]!,
      requests: 1,
      consumerRestarts: 0,
      instanceId: 'i-1',
    });
    const m = parsePrometheus(text);
    expect(m.get('bse_consumer_lag{topic="events",partition="0"}')).toBe(10);
    expect(m.get('bse_consumer_lag{topic="events",partition="1"}')).toBe(0);
    expect(m.get('bse_dead_letters_total{reason="not-json"}')).toBe(2);
    expect(m.get('bse_dead_letters_all_total')).toBe(3);
    expect(m.get('bse_events_per_second')).toBe(1234.5);
    expect(m.get('bse_http_request_duration_seconds{quantile="0.99"}')).toBeCloseTo(0.002);
    expect(m.get('bse_model_info{role="active",version="v1"}')).toBe(1);
    expect(text).toMatch(/# TYPE bse_consumer_lag gauge/);
  });
});
