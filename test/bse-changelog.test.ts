/**
 * Changelog topics (issue #16; the runner uses them in multi-host mode, see test/bse-multihost.test.ts):
 * the Kafka-level failure points of "one Kafka transaction per chunk, committed before the local store"
 * against a real broker.
 */
import {
  type ChangelogEntry,
  ChangelogWriter,
  changelogTopics,
  KafkaTransport,
  readChangelogTail,
  restoreFromChangelog,
} from '@compactrec/bse-stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTopic } from './support/bse-harness.js';

const brokers = inject('kafkaBrokers');
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));
const entry = (userId: string, tag: string): ChangelogEntry => ({
  userId,
  window: bytes(`w:${userId}:${tag}`),
  state: bytes(`s:${userId}:${tag}`),
});

describe('bse changelog: one transaction per chunk, restore read_committed', () => {
  let transport: KafkaTransport;
  let topic = '';
  const opts = () => ({ topic, groupId: `g-${topic}`, partition: 1, version: 'v1', partitions: 2 });

  async function restore(chunkUsers = 1000) {
    const users = new Map<string, [string | null, string | null]>();
    const chunks: number[] = [];
    const r = await restoreFromChangelog(transport, {
      topic,
      version: 'v1',
      partition: 1,
      chunkUsers,
      timeoutMs: 30_000,
      onChunk: (es) => {
        chunks.push(es.length);
        for (const e of es) users.set(e.userId, [text(e.window), text(e.state)]);
      },
    });
    return { r, users, chunks };
  }

  beforeAll(async () => {
    transport = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
    topic = await createTopic(brokers, 'chl', 2);
  });
  afterAll(async () => {
    await transport?.close();
  });

  it('restores the latest record of every user and the offset of the last committed chunk', async () => {
    const a = await ChangelogWriter.open(transport, opts());
    try {
      await a.publish(10, [entry('a', '1'), entry('b', '1')]);
      await a.publish(20, [entry('b', '2'), entry('c', '2')]);
    } finally {
      await a.close();
    }
    const { r, users } = await restore();
    expect(r.nextOffset).toBe(20);
    expect(Object.fromEntries(users)).toEqual({
      a: ['w:a:1', 's:a:1'],
      b: ['w:b:2', 's:b:2'],
      c: ['w:c:2', 's:c:2'],
    });
    // The topics are compacted (each user's latest record is kept) and named per kind and version.
    const t = changelogTopics(topic, 'v1');
    expect(t).toEqual({ window: `${topic}.changelog.window`, state: `${topic}.changelog.state.v1` });
  });

  it('a crash after the sends and before the commit leaves nothing of the chunk visible', async () => {
    const a = await ChangelogWriter.open(transport, opts());
    try {
      await expect(
        a.publish(30, [entry('a', 'crashed'), entry('z', 'crashed')], async () => {
          throw new Error('simulated crash before commit');
        }),
      ).rejects.toThrow(/simulated crash/);
    } finally {
      await a.close();
    }
    const { r, users } = await restore();
    expect(r.nextOffset).toBe(20);
    expect(users.get('a')).toEqual(['w:a:1', 's:a:1']);
    expect(users.has('z')).toBe(false);
  });

  it('a chunk published again after a crash (before the local commit) changes nothing', async () => {
    const a = await ChangelogWriter.open(transport, opts());
    try {
      await a.publish(20, [entry('b', '2'), entry('c', '2')]);
    } finally {
      await a.close();
    }
    const { r, users } = await restore();
    expect(r.nextOffset).toBe(20);
    expect(users.size).toBe(3);
    expect(users.get('b')).toEqual(['w:b:2', 's:b:2']);
  });

  it('a new owner fences the former one: the zombie cannot publish, the new owner can', async () => {
    const zombie = await ChangelogWriter.open(transport, opts());
    const owner = await ChangelogWriter.open(transport, opts());
    try {
      await expect(zombie.publish(99, [entry('a', 'zombie')])).rejects.toThrow(/old epoch/);
      await owner.publish(40, [entry('d', '4')]);
    } finally {
      await zombie.close().catch(() => {});
      await owner.close();
    }
    const { r, users } = await restore();
    expect(r.nextOffset).toBe(40);
    expect(users.get('a')).toEqual(['w:a:1', 's:a:1']);
    expect(users.get('d')).toEqual(['w:d:4', 's:d:4']);
  });

  it('a chunk larger than one produce request (1 MiB) is split inside its one transaction', async () => {
    const big = new Uint8Array(4096).fill(7);
    const w = await ChangelogWriter.open(transport, opts());
    try {
      await w.publish(
        50,
        Array.from({ length: 400 }, (_, i) => ({ userId: `big${i}`, window: big, state: big })),
      );
    } finally {
      await w.close();
    }
    const { r, users } = await restore();
    expect(r.nextOffset).toBe(50);
    expect(r.bytes).toBeGreaterThan(2 * 400 * 4096);
    expect([...users.keys()].filter((k) => k.startsWith('big')).length).toBe(400);
  });

  it('hands users over in chunks of at most chunkUsers', async () => {
    const { chunks, users } = await restore(2);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(2);
    expect(users.size).toBe(404);
  });

  it('windows-only, group-scoped: the marker carries the fingerprint; a catch-up from a changelog offset reads only what came after it', async () => {
    const t2 = await createTopic(brokers, 'chlw', 2);
    const o = { topic: t2, groupId: `gw-${t2}`, partition: 1, partitions: 2, groupScoped: true };
    const w = await ChangelogWriter.open(transport, o);
    const read = async (from?: number) => {
      const users = new Map<string, string | null>();
      const r = await restoreFromChangelog(transport, {
        topic: t2,
        groupId: o.groupId,
        partition: 1,
        timeoutMs: 30_000,
        ...(from === undefined ? {} : { from }),
        onChunk: (es) => {
          for (const e of es) {
            users.set(e.userId, text(e.window));
            expect(e.state).toBeNull();
          }
        },
      });
      return { r, users };
    };
    try {
      expect((await readChangelogTail(transport, t2, 1, 30_000, o.groupId)).empty).toBe(true);
      await w.publish(10, [entry('a', '1'), entry('b', '1')], undefined, 111);
      // A read at the instant commit() returns may not see the transaction yet (see below): poll.
      let first = await read();
      for (let i = 0; i < 50 && !first.r.markerSeen; i++) {
        expect(first.users.size).toBe(0); // nothing of an invisible transaction, never a part of it
        await new Promise((r) => setTimeout(r, 100));
        first = await read();
      }
      expect(first.r).toMatchObject({ nextOffset: 10, fingerprint: 111, markerSeen: true });
      await w.publish(20, [entry('b', '2'), entry('c', '2')], undefined, 222);
      // The broker writes a commit's marker just after commit() returns, and the last stable offset moves
      // past the transaction only then: a read at that instant sees the previous transaction (a consistent
      // older prefix), so poll until the second one is visible.
      let tail = await readChangelogTail(transport, t2, 1, 30_000, o.groupId);
      for (let i = 0; i < 50 && tail.nextOffset !== 20; i++) {
        expect(tail).toEqual({ empty: false, nextOffset: 10, fingerprint: 111 });
        await new Promise((r) => setTimeout(r, 100));
        tail = await readChangelogTail(transport, t2, 1, 30_000, o.groupId);
      }
      expect(tail).toEqual({ empty: false, nextOffset: 20, fingerprint: 222 });
      const next = await read(first.r.end);
      expect(next.r).toMatchObject({ nextOffset: 20, fingerprint: 222, markerSeen: true });
      expect([...next.users]).toEqual([
        ['b', 'w:b:2'],
        ['c', 'w:c:2'],
      ]);
      const none = await read(next.r.end);
      expect(none.r.markerSeen).toBe(false);
      expect(none.users.size).toBe(0);
      // The topic is the group's own; the ungrouped name does not exist.
      const names = await transport.topicOffsets(changelogTopics(t2, 'none', o.groupId).window);
      expect(names.length).toBe(2);
    } finally {
      await w.close();
    }
  });
});
