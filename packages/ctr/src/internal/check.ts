import { InvalidArgumentError } from '@compactrec/core';

/** Throws InvalidArgumentError unless `v` is an integer in [min, max]. */
export function checkInt(where: string, name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw new InvalidArgumentError(`${where}: ${name} (${v}) must be an integer ${range}`);
  }
}

/** Throws InvalidArgumentError unless `v` is a finite number in [min, max] (exclusive min when `openMin`). */
export function checkNumber(where: string, name: string, v: number, min: number, max: number, openMin = false): void {
  const ok = Number.isFinite(v) && (openMin ? v > min : v >= min) && v <= max;
  if (!ok) {
    throw new InvalidArgumentError(
      `${where}: ${name} (${v}) must be a number in ${openMin ? '(' : '['}${min}, ${max}]`,
    );
  }
}
