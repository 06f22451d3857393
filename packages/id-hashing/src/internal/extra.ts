import { InvalidArgumentError } from '@compactrec/core';

/** A value of `MapperCreateOptions.extra`. */
export type ExtraValue = number | string | boolean;

/**
 * Merges a method's `extra` options over its frozen defaults (only `undefined` falls back).
 * Unknown keys and values of the wrong type throw {@link InvalidArgumentError}, so a typo such as
 * `topFracion` is an error instead of a silent default. Ranges are checked by the method.
 */
export function resolveExtra<T extends { [K in keyof T]: ExtraValue }>(
  method: string,
  extra: Readonly<Record<string, ExtraValue>> | undefined,
  defaults: Readonly<T>,
): T {
  const out: Record<string, ExtraValue> = { ...(defaults as Record<string, ExtraValue>) };
  if (extra === undefined) return out as T;
  for (const key of Object.keys(extra)) {
    const value = extra[key];
    if (value === undefined) continue;
    if (!Object.hasOwn(defaults, key)) {
      const known = Object.keys(defaults);
      throw new InvalidArgumentError(
        `id-hashing/${method}: unknown option extra.${key}; known: ${known.length > 0 ? known.join(', ') : '(none)'}`,
        { context: { method, key } },
      );
    }
    const want = typeof (defaults as Record<string, ExtraValue>)[key];
    if (typeof value !== want) {
      throw new InvalidArgumentError(`id-hashing/${method}: extra.${key} (${String(value)}) must be a ${want}`, {
        context: { method, key, value },
      });
    }
    out[key] = value;
  }
  return out as T;
}
