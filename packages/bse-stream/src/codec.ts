/**
 * The wire format of behaviour events (layer 1: codec). Pure functions, no Kafka, no store: a message's
 * bytes become either a valid {@link BehaviourEvent} or a {@link DecodeFailure} with a machine-readable
 * reason, so the runner can dead-letter it instead of throwing (a thrown error would make kafkajs
 * restart the consumer and loop on the poison message forever).
 */
import { InvalidArgumentError } from '@compactrec/core';
import { wellFormed } from './window.js';

/** One user behaviour (e.g. a click) as carried on the events topic, JSON-encoded. Extra fields are allowed and ignored. */
export interface BehaviourEvent {
  /** Globally unique id of the event; duplicates (producer retries) carry the same id. 1..128 characters. */
  readonly eventId: string;
  /** The user the behaviour belongs to; also the Kafka message key, so one user's events share a partition. 1..128 characters. */
  readonly userId: string;
  /** Dense item index: row of the model version's item-embedding table (0 .. numItems−1). */
  readonly itemId: number;
  /** Event time, milliseconds since the Unix epoch (finite, ≥ 0). Orders the user's window. */
  readonly ts: number;
}

/** Why a message was dead-lettered. Stable strings: they are metric labels and DLQ header values. */
export type DeadLetterReason =
  | 'oversize'
  | 'empty'
  | 'not-json'
  | 'not-object'
  | 'missing-field'
  | 'wrong-type'
  | 'out-of-range'
  | 'unknown-item'
  | 'future-ts'
  | 'apply-failed';

/** Every {@link DeadLetterReason}, for metrics with all labels present from the start. */
export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = Object.freeze([
  'oversize',
  'empty',
  'not-json',
  'not-object',
  'missing-field',
  'wrong-type',
  'out-of-range',
  'unknown-item',
  'future-ts',
  'apply-failed',
]);

/** A message that is not a valid event: the reason (metric label) and a one-line human-readable detail. */
export interface DecodeFailure {
  readonly reason: DeadLetterReason;
  readonly detail: string;
}

/** Options of {@link decodeEvent}. */
export interface CodecOptions {
  /** Largest accepted message value; larger ones are dead-lettered as `oversize` without parsing. @default 4096 */
  maxEventBytes?: number;
  /** Longest accepted eventId / userId, in characters. @default 128 */
  maxIdLength?: number;
  /**
   * Largest amount an event's `ts` may lie ahead of its Kafka record timestamp, ms; events further in
   * the future are dead-lettered as `future-ts` (a far-future ts would otherwise freeze the user's
   * window: every later real event would be "too old"). @default 86400000 (one day)
   */
  maxFutureSkewMs?: number;
}

/** Defaults of {@link CodecOptions}. */
export const DEFAULT_CODEC_OPTIONS: Readonly<Required<CodecOptions>> = Object.freeze({
  maxEventBytes: 4096,
  maxIdLength: 128,
  maxFutureSkewMs: 86_400_000,
});

/** Resolves and validates codec options once (at the service boundary). */
export function resolveCodecOptions(options: CodecOptions = {}): Required<CodecOptions> {
  const o = { ...DEFAULT_CODEC_OPTIONS };
  if (options.maxEventBytes !== undefined) o.maxEventBytes = options.maxEventBytes;
  if (options.maxIdLength !== undefined) o.maxIdLength = options.maxIdLength;
  if (options.maxFutureSkewMs !== undefined) o.maxFutureSkewMs = options.maxFutureSkewMs;
  if (!(Number.isFinite(o.maxFutureSkewMs) && o.maxFutureSkewMs >= 0)) {
    throw new InvalidArgumentError(
      `bse-stream/codec: maxFutureSkewMs (${o.maxFutureSkewMs}) must be a finite number of ms ≥ 0`,
    );
  }
  if (!Number.isInteger(o.maxEventBytes) || o.maxEventBytes < 64) {
    throw new InvalidArgumentError(`bse-stream/codec: maxEventBytes (${o.maxEventBytes}) must be an integer ≥ 64`);
  }
  if (!Number.isInteger(o.maxIdLength) || o.maxIdLength < 1 || o.maxIdLength > 1024) {
    throw new InvalidArgumentError(`bse-stream/codec: maxIdLength (${o.maxIdLength}) must be an integer in [1, 1024]`);
  }
  return o;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and schema-checks one message value. Returns the event, or a failure (never throws on bad
 * input). `options` must come from {@link resolveCodecOptions}. With `recordTimestamp` (the Kafka
 * record's timestamp, epoch ms) an event whose ts lies more than `maxFutureSkewMs` after it is a
 * `future-ts` failure.
 */
export function decodeEvent(
  value: Uint8Array | null | undefined,
  options: Required<CodecOptions>,
  recordTimestamp?: number,
): BehaviourEvent | DecodeFailure {
  const r = decodeValue(value, options);
  if (recordTimestamp === undefined || isDecodeFailure(r)) return r;
  if (r.ts > recordTimestamp + options.maxFutureSkewMs) {
    return {
      reason: 'future-ts',
      detail: `ts ${r.ts} is ${r.ts - recordTimestamp} ms after the record timestamp ${recordTimestamp}; at most ${options.maxFutureSkewMs} ms (maxFutureSkewMs)`,
    };
  }
  return r;
}

function decodeValue(
  value: Uint8Array | null | undefined,
  options: Required<CodecOptions>,
): BehaviourEvent | DecodeFailure {
  if (value === null || value === undefined || value.length === 0) {
    return { reason: 'empty', detail: 'the message has no value' };
  }
  if (value.length > options.maxEventBytes) {
    return { reason: 'oversize', detail: `value is ${value.length} bytes; at most ${options.maxEventBytes}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(value));
  } catch (err) {
    return { reason: 'not-json', detail: `not UTF-8 JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  return validateEvent(parsed, options);
}

/** Schema check of an already parsed value (see {@link BehaviourEvent} for the rules). Ids come back well formed. */
export function validateEvent(parsed: unknown, options: Required<CodecOptions>): BehaviourEvent | DecodeFailure {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return {
      reason: 'not-object',
      detail: `the JSON value is ${Array.isArray(parsed) ? 'an array' : typeof parsed}, not an object`,
    };
  }
  const o = parsed as Record<string, unknown>;
  for (const field of ['eventId', 'userId', 'itemId', 'ts'] as const) {
    if (o[field] === undefined || o[field] === null) {
      return { reason: 'missing-field', detail: `field '${field}' is missing` };
    }
  }
  const { eventId, userId, itemId, ts } = o;
  for (const [name, v] of [
    ['eventId', eventId],
    ['userId', userId],
  ] as const) {
    if (typeof v !== 'string') return { reason: 'wrong-type', detail: `${name} is a ${typeof v}; expected a string` };
    if (v.length === 0 || v.length > options.maxIdLength) {
      return {
        reason: 'out-of-range',
        detail: `${name} has ${v.length} characters; expected 1..${options.maxIdLength}`,
      };
    }
  }
  if (typeof itemId !== 'number')
    return { reason: 'wrong-type', detail: `itemId is a ${typeof itemId}; expected an integer` };
  if (!Number.isSafeInteger(itemId) || itemId < 0 || itemId > 0xfffffffe) {
    return { reason: 'out-of-range', detail: `itemId (${itemId}) is not an integer in [0, 2^32−2]` };
  }
  if (typeof ts !== 'number')
    return { reason: 'wrong-type', detail: `ts is a ${typeof ts}; expected epoch milliseconds` };
  if (!Number.isFinite(ts) || ts < 0) return { reason: 'out-of-range', detail: `ts (${ts}) must be finite and ≥ 0` };
  // Ids are kept well formed (lone surrogates → U+FFFD), exactly as UTF-8 storage keeps them, so a
  // retry compares equal to the stored id (see window.ts).
  return { eventId: wellFormed(eventId as string), userId: wellFormed(userId as string), itemId, ts };
}

/** Whether a {@link decodeEvent} result is a failure. */
export function isDecodeFailure(r: BehaviourEvent | DecodeFailure): r is DecodeFailure {
  return (r as DecodeFailure).reason !== undefined;
}

const utf8Encoder = new TextEncoder();

/** The message value of an event (JSON; what producers should send, keyed by userId). */
export function encodeEvent(event: BehaviourEvent): Uint8Array {
  return utf8Encoder.encode(
    `{"eventId":${JSON.stringify(event.eventId)},"userId":${JSON.stringify(event.userId)},"itemId":${event.itemId},"ts":${event.ts}}`,
  );
}

/** Where a dead-lettered message came from. */
export interface MessageSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** The value of a dead-letter-topic message (JSON): why, where from, and the original bytes (base64, capped). */
export interface DeadLetterRecord {
  readonly reason: DeadLetterReason;
  readonly detail: string;
  readonly source: MessageSource;
  /** Byte length of the original value (0 when it had none). */
  readonly valueBytes: number;
  /** The original value, base64, truncated to `maxPayloadBytes` (see `truncated`). */
  readonly valueBase64: string;
  readonly truncated: boolean;
}

/** Builds the dead-letter record of a rejected message; the payload copy is capped at `maxPayloadBytes`. */
export function deadLetterRecord(
  failure: DecodeFailure,
  source: MessageSource,
  value: Uint8Array | null | undefined,
  maxPayloadBytes = 1024,
): DeadLetterRecord {
  const n = value?.length ?? 0;
  const kept = value ? value.subarray(0, Math.min(n, maxPayloadBytes)) : new Uint8Array(0);
  return {
    reason: failure.reason,
    detail: failure.detail,
    source,
    valueBytes: n,
    valueBase64: Buffer.from(kept.buffer, kept.byteOffset, kept.byteLength).toString('base64'),
    truncated: n > maxPayloadBytes,
  };
}

/** Encodes a dead-letter record as the DLQ message value. */
export function encodeDeadLetter(record: DeadLetterRecord): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(record));
}

/** Parses a DLQ message value written by {@link encodeDeadLetter} (for tools and tests). */
export function decodeDeadLetter(value: Uint8Array): DeadLetterRecord {
  const r = JSON.parse(utf8.decode(value)) as DeadLetterRecord;
  if (typeof r?.reason !== 'string' || typeof r.source?.offset !== 'number') {
    throw new InvalidArgumentError('bse-stream/decodeDeadLetter: the value is not a dead-letter record');
  }
  return r;
}
