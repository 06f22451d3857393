import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CliUsageError } from './args.js';

/** What a path is on disk: nothing, a directory or something else (a file). */
async function kindOf(path: string): Promise<'none' | 'dir' | 'file'> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'file';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'none';
    throw err;
  }
}

/**
 * Checks that `path` (not existing yet) can be created: its nearest existing ancestor must be a
 * writable directory. Nothing is created.
 */
async function checkCreatable(where: string, option: string, path: string): Promise<void> {
  let p = resolve(path);
  for (;;) {
    const parent = dirname(p);
    const k = await kindOf(parent);
    if (k === 'file') {
      throw new CliUsageError(
        `${where}: --${option} '${path}' cannot be created: '${parent}' is a file, not a directory; choose another path`,
      );
    }
    if (k === 'dir') {
      try {
        await access(parent, constants.W_OK);
      } catch {
        throw new CliUsageError(
          `${where}: --${option} '${path}' cannot be created: '${parent}' is not writable; choose another path`,
        );
      }
      return;
    }
    if (parent === p) return;
    p = parent;
  }
}

/**
 * Checks, before any work, that `path` can be the output directory of `--option`: an existing
 * writable directory or one that can be created. With `protect`, a directory already holding any
 * of those file names is refused unless `force` (so a trained model is not overwritten by mistake).
 */
export async function checkOutputDir(
  where: string,
  option: string,
  path: string,
  opts: { protect?: readonly string[]; force?: boolean; what?: string } = {},
): Promise<void> {
  const k = await kindOf(path);
  if (k === 'file') {
    throw new CliUsageError(`${where}: --${option} '${path}' is a file; give a directory`);
  }
  if (k === 'none') return checkCreatable(where, option, path);
  try {
    await access(path, constants.W_OK);
  } catch {
    throw new CliUsageError(`${where}: --${option} '${path}' is not writable; choose another directory`);
  }
  if (opts.protect && !opts.force) {
    const names = await readdir(path);
    const held = opts.protect.filter((n) => names.includes(n));
    if (held.length > 0) {
      throw new CliUsageError(
        `${where}: --${option} '${path}' already holds ${opts.what ?? 'output'} (${held.join(', ')}); pass --force to overwrite it, or choose a new directory`,
      );
    }
  }
}

/**
 * Checks, before any work, that `path` can be the output file of `--option`: not a directory (nor
 * written like one, with a trailing slash) and in a directory that exists or can be created.
 */
export async function checkOutputFile(where: string, option: string, path: string): Promise<void> {
  if (/[/\\]$/.test(path) || (await kindOf(path)) === 'dir') {
    throw new CliUsageError(
      `${where}: --${option} '${path}' is a directory; give a file path such as '${path.replace(/[/\\]+$/, '')}/clusters.bin'`,
    );
  }
  await checkCreatable(where, option, path);
}
