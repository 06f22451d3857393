import { CompactRecError } from '@compactrec/core';
import { type Command, formatHelp, parseArgs } from './args.js';
import { COMMANDS } from './commands/index.js';

/** Runs `compactrec` with `argv` (without node and script); returns the exit code. */
export async function main(argv: readonly string[], commands: readonly Command[] = COMMANDS): Promise<number> {
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
    const text = `Usage: compactrec <command> [options]\n\nCommands:\n${list}\n\nRun 'compactrec <command> --help' for a command's options.`;
    if (wantsHelp || matching.length > 0) {
      process.stdout.write(`${text}\n`);
      return matching.length > 0 && !argv.includes('--help') ? 2 : 0;
    }
    process.stderr.write(`compactrec: unknown command '${argv.join(' ')}'\n\n${text}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${formatHelp(best)}\n`);
    return 0;
  }
  try {
    const args = parseArgs(rest, best.options, `compactrec ${best.name}`);
    return await best.run(args);
  } catch (err) {
    if (err instanceof CompactRecError) {
      process.stderr.write(`compactrec ${best.name}: ${err.message}\n`);
      return 1;
    }
    if (err instanceof Error && (err as NodeJS.ErrnoException).code && (err as NodeJS.ErrnoException).path) {
      const e = err as NodeJS.ErrnoException;
      process.stderr.write(`compactrec ${best.name}: ${e.path}: ${e.code} (${e.message})\n`);
      return 1;
    }
    throw err;
  }
}
