/**
 * Reading benchmark results tolerantly: every `results.json` the harnesses ever wrote (a JSON
 * array of flat records, or JSON lines), with or without the environment fields newer runs add.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DataFormatError, NotFoundError } from '@compactrec/core';

/** A value of a flat benchmark record (one row of results.csv). */
export type RecordValue = string | number | boolean | null;

/** One benchmark record as read: the file's fields, numbers parsed where a string held one. */
export type BenchRecord = Readonly<Record<string, RecordValue>>;

/** The records of one results file and where they came from. */
export interface ResultSet {
  /** The results file read. */
  readonly file: string;
  /** A short label for the run: the results directory's name. */
  readonly label: string;
  readonly records: readonly BenchRecord[];
  /** Entries of the file that were not records (skipped), with why. */
  readonly skipped: readonly string[];
}

/** Names a results file may have inside a results directory, in the order tried. */
export const RESULT_FILE_NAMES: readonly string[] = Object.freeze(['results.json', 'results.jsonl']);

/** Subdirectory levels searched below a given directory that holds no results file itself. */
const MAX_DEPTH = 2;

function normalizeValue(v: unknown): RecordValue | undefined {
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return v;
  if (typeof v === 'string') {
    const t = v.trim();
    // CSV-era files may hold numbers as strings; JSON objects (params) stay strings.
    if (t !== '' && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
    return v;
  }
  if (typeof v === 'object') return JSON.stringify(v); // nested objects of newer records, kept readable
  return undefined;
}

/** Parses a results file's text: a JSON array of records, one JSON object, or JSON lines. */
export function parseResults(text: string, file: string): { records: BenchRecord[]; skipped: string[] } {
  let entries: unknown[];
  const trimmed = text.trim();
  if (trimmed === '') throw new DataFormatError(file, 1, 'results file is empty');
  try {
    const parsed: unknown = JSON.parse(trimmed);
    entries = Array.isArray(parsed)
      ? parsed
      : typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { records?: unknown }).records)
        ? (parsed as { records: unknown[] }).records
        : [parsed];
  } catch {
    entries = [];
    const lines = trimmed.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      try {
        entries.push(JSON.parse(line));
      } catch (err) {
        throw new DataFormatError(
          file,
          i + 1,
          `neither a JSON document nor JSON lines (${(err as Error).message}); expected the harness's results.json`,
        );
      }
    }
  }
  const records: BenchRecord[] = [];
  const skipped: string[] = [];
  entries.forEach((e, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) {
      skipped.push(`entry ${i} is not an object`);
      return;
    }
    const out: Record<string, RecordValue> = {};
    for (const [k, v] of Object.entries(e)) {
      const n = normalizeValue(v);
      if (n !== undefined) out[k] = n;
    }
    if (typeof out.method !== 'string') {
      skipped.push(`entry ${i} has no method`);
      return;
    }
    records.push(out);
  });
  return { records, skipped };
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** The results files under `dir` (its own, or those of subdirectories up to {@link MAX_DEPTH} deep). */
async function findResultFiles(dir: string, depth: number): Promise<string[]> {
  for (const name of RESULT_FILE_NAMES) {
    const p = join(dir, name);
    if (await isFile(p)) return [p];
  }
  if (depth >= MAX_DEPTH) return [];
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isDirectory()) out.push(...(await findResultFiles(join(dir, e.name), depth + 1)));
  }
  return out;
}

/**
 * Reads every results file given: a results file, or a directory holding one (or whose
 * subdirectories do). A path with no results file at all is a NotFoundError naming it.
 */
export async function loadResults(paths: readonly string[]): Promise<ResultSet[]> {
  const where = 'report/loadResults';
  if (paths.length === 0) throw new NotFoundError(`${where}: no results directory given`);
  const sets: ResultSet[] = [];
  for (const p of paths) {
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(p);
    } catch (err) {
      throw new NotFoundError(`${where}: ${p} does not exist; pass a directory written by 'compactrec bench …'`, {
        cause: err,
        context: { path: p },
      });
    }
    const files = st.isDirectory() ? await findResultFiles(p, 0) : [p];
    if (files.length === 0) {
      throw new NotFoundError(
        `${where}: ${p} holds no ${RESULT_FILE_NAMES.join(' or ')} (searched ${MAX_DEPTH} levels down); pass a directory written by 'compactrec bench …'`,
        { context: { path: p } },
      );
    }
    for (const file of files) {
      const { records, skipped } = parseResults(await readFile(file, 'utf8'), file);
      sets.push({ file: resolve(file), label: basename(dirname(resolve(file))), records, skipped });
    }
  }
  return sets;
}
