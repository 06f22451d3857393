import { InvalidArgumentError } from '@compactrec/core';

/**
 * A command-line usage error (unknown option, bad option value, stray word, options that do not go
 * together). `main` prints it once, prefixed by the command, and exits with {@link USAGE_EXIT_CODE}.
 */
export class CliUsageError extends InvalidArgumentError {
  constructor(message: string) {
    super(message);
    this.name = 'CliUsageError';
  }
}

/** Runs a parser of option values; its InvalidArgumentError becomes a usage error (exit 2). */
export function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new CliUsageError(err.message);
    throw err;
  }
}

/** Exit code of every usage error (the POSIX/getopt convention); runtime failures exit 1. */
export const USAGE_EXIT_CODE = 2;

/** One option of a subcommand, as shown by `--help` and checked by {@link parseArgs}. */
export interface OptionSpec {
  /** Long name without dashes, e.g. `budget`. */
  readonly name: string;
  readonly type: 'string' | 'number' | 'int' | 'boolean' | 'list';
  readonly description: string;
  /** Default shown in help and used when absent. */
  readonly default?: string | number | boolean | readonly string[];
  readonly required?: boolean;
  /** Allowed values (for string/list). */
  readonly choices?: readonly string[];
  /** Inclusive numeric range. */
  readonly min?: number;
  readonly max?: number;
  /** Exclusive lower bound (e.g. budget > 0). */
  readonly gt?: number;
  /** list only: each item must be an integer (checked against min/max/gt), e.g. `--mlp 400,400`. */
  readonly items?: 'int';
  /**
   * list only: each value may appear once (e.g. `--methods`, whose composed names cannot be listed as
   * `choices`). A list with `choices` is always checked.
   */
  readonly unique?: boolean;
  /**
   * The option only does something when another option has one of these values (e.g. `--layers`
   * only with `--model lightgcn`); giving it otherwise is a usage error naming both options.
   */
  readonly onlyWith?: { readonly option: string; readonly values: readonly string[] };
}

export type ArgValue = string | number | boolean | string[];
export type ParsedArgs = Record<string, ArgValue | undefined> & { _: string[] };

/** A subcommand of `compactrec`. */
export interface Command {
  /** Words after `compactrec`, e.g. `bench retrieval`. */
  readonly name: string;
  readonly summary: string;
  readonly options: readonly OptionSpec[];
  /** Extra help text (examples, notes). */
  readonly details?: string;
  /** The command takes positional arguments (in `args._`, e.g. `report DIR…`); others reject stray words. */
  readonly positionals?: boolean;
  /** Runs the command; returns the exit code. Throws CompactRecError for user errors. */
  run(args: ParsedArgs): Promise<number>;
}

/**
 * Parses `--name value`, `--name=value` and `--flag` against the specs; errors ({@link CliUsageError})
 * name the option. Words that are not options are rejected unless `positionals` is true (then they
 * are returned in `_`). An option given twice keeps the last value.
 */
export function parseArgs(
  argv: readonly string[],
  specs: readonly OptionSpec[],
  where: string,
  positionals = false,
): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const out: ParsedArgs = { _: [] };
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      if (!positionals) {
        throw new CliUsageError(
          `${where}: unexpected argument '${a}'; options are written --name value (see '${where} --help')`,
        );
      }
      out._.push(a);
      continue;
    }
    let name = a.slice(2);
    let raw: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      raw = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const spec = byName.get(name);
    if (!spec) {
      throw new CliUsageError(`${where}: unknown option --${name}; see '${where} --help'`);
    }
    given.add(name);
    if (spec.type === 'boolean') {
      out[name] = raw === undefined ? true : raw !== 'false' && raw !== '0';
      continue;
    }
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) throw new CliUsageError(`${where}: option --${name} needs a value`);
    }
    out[name] = convert(spec, raw, where);
  }
  for (const s of specs) {
    if (out[s.name] === undefined && s.default !== undefined) {
      out[s.name] = Array.isArray(s.default) ? [...s.default] : (s.default as ArgValue);
    }
    if (out[s.name] === undefined && s.required) {
      throw new CliUsageError(`${where}: option --${s.name} is required (${s.description})`);
    }
  }
  for (const name of given) {
    const w = byName.get(name)!.onlyWith;
    if (!w) continue;
    const v = out[w.option];
    const values = Array.isArray(v) ? v : v === undefined ? [] : [String(v)];
    if (!values.some((x) => w.values.includes(x))) {
      throw new CliUsageError(
        `${where}: --${name} only applies with --${w.option} ${w.values.join(' or ')} (here --${w.option} is ${values.join(',') || 'unset'}); drop --${name}`,
      );
    }
  }
  return out;
}

function convert(spec: OptionSpec, raw: string, where: string): ArgValue {
  const bad = (why: string): never => {
    throw new CliUsageError(`${where}: --${spec.name} '${raw}' ${why}`);
  };
  const checkRange = (v: number, what: string): void => {
    if (spec.min !== undefined && v < spec.min) bad(`${what}is below the minimum ${spec.min}`);
    if (spec.max !== undefined && v > spec.max) bad(`${what}is above the maximum ${spec.max}`);
    if (spec.gt !== undefined && !(v > spec.gt)) bad(`${what}must be greater than ${spec.gt}`);
  };
  switch (spec.type) {
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) bad(`is not one of ${spec.choices.join(', ')}`);
      return raw;
    case 'list': {
      const items = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      if (items.length === 0) bad('is an empty list');
      if (spec.choices) {
        for (const it of items)
          if (!spec.choices.includes(it)) bad(`names unknown value '${it}'; known: ${spec.choices.join(', ')}`);
      }
      if (spec.choices || spec.unique) {
        const dup = items.find((it, i) => items.indexOf(it) !== i);
        if (dup !== undefined) bad(`names '${dup}' twice; list each value once`);
      }
      if (spec.items === 'int') {
        for (const it of items) {
          const v = Number(it);
          if (!/^[+-]?\d+$/.test(it) || !Number.isSafeInteger(v)) bad(`has '${it}', which is not an integer`);
          checkRange(v, `has ${it}, which `);
        }
      }
      return items;
    }
    case 'number':
    case 'int': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) bad('is not a number');
      if (spec.type === 'int' && !Number.isInteger(v)) bad('is not an integer');
      checkRange(v, '');
      return v;
    }
    default:
      return raw;
  }
}

/** The `--help` text of a command. */
export function formatHelp(cmd: Command): string {
  const lines = [`Usage: compactrec ${cmd.name} [options]`, '', cmd.summary, '', 'Options:'];
  const width = Math.max(...cmd.options.map((o) => o.name.length + 10), 14);
  for (const o of cmd.options) {
    const left = `  --${o.name}${o.type === 'boolean' ? '' : ` <${o.type}>`}`;
    const def =
      o.default !== undefined
        ? ` [default: ${Array.isArray(o.default) ? o.default.join(',') : String(o.default)}]`
        : '';
    const req = o.required ? ' (required)' : '';
    const choices = o.choices
      ? o.type === 'list'
        ? ` (any of: ${o.choices.join(', ')})`
        : ` (one of: ${o.choices.join(', ')})`
      : '';
    const only = o.onlyWith ? ` (only with --${o.onlyWith.option} ${o.onlyWith.values.join('/')})` : '';
    lines.push(`${left.padEnd(width + 4)}${o.description}${choices}${def}${req}${only}`);
  }
  lines.push(`${'  --help'.padEnd(width + 4)}Show this help`);
  lines.push(`${'  --version'.padEnd(width + 4)}Print the compactrec version`);
  if (cmd.details) lines.push('', cmd.details);
  return lines.join('\n');
}
