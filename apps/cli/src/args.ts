import { InvalidArgumentError } from '@compactrec/core';

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
  /** Runs the command; returns the exit code. Throws CompactRecError for user errors. */
  run(args: ParsedArgs): Promise<number>;
}

/** Parses `--name value`, `--name=value` and `--flag` against the specs; errors name the option. */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], where: string): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const out: ParsedArgs = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
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
      throw new InvalidArgumentError(`${where}: unknown option --${name}; see '${where} --help'`);
    }
    if (spec.type === 'boolean') {
      out[name] = raw === undefined ? true : raw !== 'false' && raw !== '0';
      continue;
    }
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) throw new InvalidArgumentError(`${where}: option --${name} needs a value`);
    }
    out[name] = convert(spec, raw, where);
  }
  for (const s of specs) {
    if (out[s.name] === undefined && s.default !== undefined) {
      out[s.name] = Array.isArray(s.default) ? [...s.default] : (s.default as ArgValue);
    }
    if (out[s.name] === undefined && s.required) {
      throw new InvalidArgumentError(`${where}: option --${s.name} is required (${s.description})`);
    }
  }
  return out;
}

function convert(spec: OptionSpec, raw: string, where: string): ArgValue {
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`${where}: --${spec.name} '${raw}' ${why}`);
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
      return items;
    }
    case 'number':
    case 'int': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) bad('is not a number');
      if (spec.type === 'int' && !Number.isInteger(v)) bad('is not an integer');
      if (spec.min !== undefined && v < spec.min) bad(`is below the minimum ${spec.min}`);
      if (spec.max !== undefined && v > spec.max) bad(`is above the maximum ${spec.max}`);
      if (spec.gt !== undefined && !(v > spec.gt)) bad(`must be greater than ${spec.gt}`);
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
    const choices = o.choices && o.type !== 'list' ? ` (one of: ${o.choices.join(', ')})` : '';
    lines.push(`${left.padEnd(width + 4)}${o.description}${choices}${def}${req}`);
  }
  lines.push(`${'  --help'.padEnd(width + 4)}Show this help`);
  if (cmd.details) lines.push('', cmd.details);
  return lines.join('\n');
}
