import {
  deadLetterRecord,
  decodeDeadLetter,
  decodeEvent,
  encodeDeadLetter,
  encodeEvent,
  isDecodeFailure,
  resolveCodecOptions,
} from '@compactrec/bse-stream';
import { InvalidArgumentError } from '@compactrec/core';
import { describe, expect, it } from 'vitest';

const opts = resolveCodecOptions({ maxEventBytes: 256 });
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const reason = (v: Uint8Array | null): string | undefined => {
  const r = decodeEvent(v, opts);
  return isDecodeFailure(r) ? r.reason : undefined;
};

describe('codec', () => {
  it('rejects invalid options', () => {
    expect(() => resolveCodecOptions({ maxEventBytes: 10 })).toThrow(InvalidArgumentError);
    expect(() => resolveCodecOptions({ maxIdLength: 0 })).toThrow(InvalidArgumentError);
  });

  it('classifies every kind of bad message with its reason', () => {
    expect(reason(null)).toBe('empty');
    expect(reason(new Uint8Array(0))).toBe('empty');
    expect(reason(new Uint8Array(300).fill(32))).toBe('oversize');
    expect(reason(bytes('not json {'))).toBe('not-json');
    expect(reason(new Uint8Array([0xff, 0xfe, 0x7b]))).toBe('not-json');
    expect(reason(bytes('[1,2]'))).toBe('not-object');
    expect(reason(bytes('42'))).toBe('not-object');
    expect(reason(bytes('{"eventId":"e","userId":"u","ts":1}'))).toBe('missing-field');
    expect(reason(bytes('{"eventId":"e","userId":"u","itemId":null,"ts":1}'))).toBe('missing-field');
    expect(reason(bytes('{"eventId":"e","userId":"u","itemId":"7","ts":1}'))).toBe('wrong-type');
    expect(reason(bytes('{"eventId":5,"userId":"u","itemId":7,"ts":1}'))).toBe('wrong-type');
    expect(reason(bytes('{"eventId":"e","userId":"u","itemId":7,"ts":"yesterday"}'))).toBe('wrong-type');
    expect(reason(bytes('{"eventId":"e","userId":"u","itemId":1.5,"ts":1}'))).toBe('out-of-range');
    expect(reason(bytes('{"eventId":"e","userId":"u","itemId":-1,"ts":1}'))).toBe('out-of-range');
    expect(reason(bytes('{"eventId":"e","userId":"u","itemId":1,"ts":-5}'))).toBe('out-of-range');
    expect(reason(bytes('{"eventId":"","userId":"u","itemId":1,"ts":5}'))).toBe('out-of-range');
    expect(reason(bytes(`{"eventId":"${'x'.repeat(129)}","userId":"u","itemId":1,"ts":5}`))).toBe('out-of-range');
  });

  it('accepts a valid event, ignoring extra fields, and round-trips encodeEvent', () => {
    const r = decodeEvent(bytes('{"eventId":"e1","userId":"u1","itemId":3,"ts":1700000000000,"page":"home"}'), opts);
    expect(isDecodeFailure(r)).toBe(false);
    expect(r).toEqual({ eventId: 'e1', userId: 'u1', itemId: 3, ts: 1700000000000 });
    const e = { eventId: 'e"2\\', userId: 'ü', itemId: 0, ts: 12.5 };
    expect(decodeEvent(encodeEvent(e), opts)).toEqual(e);
  });

  it('dead-letter records carry reason, source and a capped copy of the payload', () => {
    const value = new Uint8Array(2000).fill(65);
    const rec = deadLetterRecord(
      { reason: 'oversize', detail: 'too big' },
      { topic: 't', partition: 2, offset: 77 },
      value,
      100,
    );
    expect(rec.truncated).toBe(true);
    expect(rec.valueBytes).toBe(2000);
    expect(Buffer.from(rec.valueBase64, 'base64').length).toBe(100);
    const back = decodeDeadLetter(encodeDeadLetter(rec));
    expect(back).toEqual(rec);
    expect(() => decodeDeadLetter(bytes('{"x":1}'))).toThrow(InvalidArgumentError);
  });
});
