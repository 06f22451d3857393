import { readFileSync } from 'node:fs';
import { CompactRecError } from '@compactrec/core';
import { CliUsageError, type Command, formatHelp, parseArgs, USAGE_EXIT_CODE } from './args.js';
import { COMMANDS } from './commands/index.js';

/** The version of the `compactrec` tool (its package.json; `src/` and `dist/` both sit beside it). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * Runs `compactrec` with `argv` (without node and script); returns the exit code: 0 on success,
 * {@link USAGE_EXIT_CODE} (2) for a usage error (unknown command or option, bad option value),
 * 1 when the command itself fails (bad data, missing file, ...).
 */
export async function main(argv: readonly string[], commands: readonly Command[] = COMMANDS): Promise<number> {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version')) {
    process.stdout.write(`compactrec ${cliVersion()}\n`);
    return 0;
  }
  // Longest match of leading words against command names ("bench retrieval" before "bench").
  let best: Command | undefined;
  let used = 0;
  for (const c of commands) {
    const words = c.name.split(' ');
    if (words.length > used && words.every((w, i) => argv[i] === w)) {
      best = c;
      used = words.length;
    }
  }
  const rest = argv.slice(used);
  if (!best) {
    const wantsHelp = argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help';
    const prefix = argv.filter((a) => !a.startsWith('-')).join(' ');
    const matching = commands.filter((c) => prefix !== '' && c.name.startsWith(prefix));
    const list = (matching.length > 0 ? matching : commands)
      .map((c) => `  ${c.name.padEnd(22)}${c.summary}`)
      .join('\n');
    const text = `Usage: compactrec <command> [options]\n\nCommands:\n${list}\n\nRun 'compactrec <command> --help' for a command's options, 'compactrec --version' for the version.`;
    if (wantsHelp || matching.length > 0) {
      process.stdout.write(`${text}\n`);
      return matching.length > 0 && !argv.includes('--help') ? USAGE_EXIT_CODE : 0;
    }
    process.stderr.write(`compactrec: unknown command '${argv.join(' ')}'\n\n${text}\n`);
    return USAGE_EXIT_CODE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${formatHelp(best)}\n`);
    return 0;
  }
  const where = `compactrec ${best.name}`;
  // One prefix per line: messages that already name the command (parseArgs') are printed as they are.
  const say = (message: string): void => {
    process.stderr.write(`${message.startsWith(`${where}:`) ? message : `${where}: ${message}`}\n`);
  };
  try {
    const args = parseArgs(rest, best.options, where, best.positionals === true);
    return await best.run(args);
  } catch (err) {
    if (err instanceof CliUsageError) {
      say(err.message);
      return USAGE_EXIT_CODE;
    }
    if (err instanceof CompactRecError) {
      say(err.message);
      return 1;
    }
    if (err instanceof Error && (err as NodeJS.ErrnoException).code && (err as NodeJS.ErrnoException).path) {
      const e = err as NodeJS.ErrnoException;
      say(`${e.path}: ${e.code} (${e.message})`);
      return 1;
    }
    throw err;
  }
}
