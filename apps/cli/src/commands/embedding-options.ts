import { METHOD_SYNTAX, methodHelp, methodNames } from '@compactrec/embedding';
import type { OptionSpec } from '../args.js';

/**
 * What `--method(s)` accepts, from the embedding registry — the same names `resolveMethod`'s
 * unknown-method error lists, so `--help` and the error never disagree.
 */
export function methodOptionDescription(what: string): string {
  return `${what}: ${methodNames().join(', ')}; or ${METHOD_SYNTAX}`;
}

/** `--quantize`: when low-precision storage kinds quantize (ignored by float32 tables). */
export const QUANTIZE_OPTION: OptionSpec = {
  name: 'quantize',
  type: 'string',
  default: 'after',
  choices: ['after', 'during'],
  description:
    'Low-precision kinds (fp16, int8, int4, alpt*): quantize after training (float master) or during it (fake quant / ALPT)',
};

/** The registry's one line per sharing method and storage kind, for a command's details. */
export function methodDetails(): string {
  return `Methods (compose SHARING+STORAGE):\n${methodHelp()}`;
}
