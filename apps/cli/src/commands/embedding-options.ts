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

/** `--dsl-training`: how DSL tables train (a storage setting, `storageExtra.dslTraining`). */
export const DSL_TRAINING_OPTION: OptionSpec = {
  name: 'dsl-training',
  type: 'string',
  default: 'auto',
  choices: ['auto', 'dense', 'sparse'],
  description:
    'DSL tables: dense-masked training, or the sparse form (values and Adam moments only for active weights); auto = the form with fewer training bytes (sparse below density ~0.8)',
};

/** `--alpt-step-lr`: ALPT's step-size learning rate (a storage setting, `storageExtra.alptStepLr`). */
export const ALPT_STEP_LR_OPTION: OptionSpec = {
  name: 'alpt-step-lr',
  type: 'number',
  gt: 0,
  description: "ALPT (alpt8, alpt4): learning rate of the per-row step sizes' own Adam (default: the values' lr / 127)",
};

/** The storage settings the command line sets (DSL's training form; ALPT's step lr when given). */
export function storageExtraArgs(a: Record<string, unknown>): Record<string, string | number> {
  return {
    dslTraining: a['dsl-training'] as string,
    ...(a['alpt-step-lr'] !== undefined ? { alptStepLr: a['alpt-step-lr'] as number } : {}),
  };
}

/** The registry's one line per sharing method and storage kind, for a command's details. */
export function methodDetails(): string {
  return `Methods (compose SHARING+STORAGE):\n${methodHelp()}`;
}
