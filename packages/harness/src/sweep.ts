/**
 * Sweeps shared by both harnesses: a grid of cells (group × tuning point × seed), each trained once
 * and appended to `OUT/results.jsonl` (one JSON line, fsync'd) keyed by a hash of everything that
 * determines its result, so a killed run re-run with the same command skips every finished cell.
 * The reported records (results.json/.csv/.md) are built from every record of the journal: per
 * group, the tuning point with the best validation metric, its test metrics averaged over seeds.
 */
import { createHash } from 'node:crypto';
import { constants, readFileSync, unlinkSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { DataFormatError, InvalidArgumentError } from '@compactrec/core';
import { type HyperParams, meanStd } from './protocol.js';
import { type ResultRecord, type ResultValue, writeResults } from './report.js';

/** The journal's file name inside a sweep's output directory. */
export const JOURNAL_FILE = 'results.jsonl';

/** JSON with object keys sorted at every level (a stable text to hash). */
export function stableStringify(v: unknown): string {
  if (v === undefined) return 'null';
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) return JSON.stringify(String(v));
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined && typeof o[k] !== 'function')
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}

/** A short stable hash (16 hex digits of SHA-256) of a value's {@link stableStringify}. */
export function hashOf(v: unknown): string {
  return createHash('sha256').update(stableStringify(v)).digest('hex').slice(0, 16);
}

const SAMPLE_BYTES = 1 << 20;

async function fileFingerprint(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(path, constants.O_RDONLY);
  try {
    const take = async (pos: number, len: number): Promise<void> => {
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      h.update(buf.subarray(0, bytesRead));
    };
    if (size <= 2 * SAMPLE_BYTES) await take(0, size);
    else {
      await take(0, SAMPLE_BYTES);
      await take(size - SAMPLE_BYTES, SAMPLE_BYTES);
    }
  } finally {
    await fh.close();
  }
  return `${size}:${h.digest('hex').slice(0, 16)}`;
}

/**
 * A dataset's identity for cell keys: for a file, its size and a SHA-256 of its content (of its
 * first and last MiB when larger than 2 MiB); for a directory, the same for every regular file at
 * its top level, by name; anything that is not a path (`generated`, a synthetic spec) is itself.
 * The path is not part of it, so the same data under another path (another worktree) resumes.
 */
export async function datasetIdentity(data: string): Promise<string> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(data);
  } catch {
    return `spec:${data}`;
  }
  if (st.isFile()) return `file:${basename(data)}:${await fileFingerprint(data, st.size)}`;
  const parts: string[] = [];
  const entries = (await readdir(data, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    if (!e.isFile()) continue;
    const p = join(data, e.name);
    parts.push(`${e.name}=${await fileFingerprint(p, (await stat(p)).size)}`);
  }
  return `dir:${hashOf(parts)}`;
}

/**
 * Reads a journal: one record per line. A last line without its newline or not valid JSON (a
 * run killed mid-write) is cut off the file, and `log` says so; a bad line elsewhere is an error
 * naming the file and line. A missing file is an empty journal.
 */
export async function readJournal(path: string, log: (line: string) => void): Promise<ResultRecord[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const endsWithNewline = text.endsWith('\n');
  const lines = text.split('\n');
  if (endsWithNewline || text === '') lines.pop();
  const out: ResultRecord[] = [];
  let goodBytes = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const isLast = i === lines.length - 1;
    let rec: ResultRecord | undefined;
    try {
      rec = JSON.parse(line) as ResultRecord;
    } catch {
      rec = undefined;
    }
    // Only the last line can be torn (killed between write and fsync): no newline after it, or not JSON.
    if (isLast && (!endsWithNewline || rec === undefined)) {
      log(
        `[sweep] ${path}: dropping an unfinished last line (${Buffer.byteLength(line)} bytes) left by an interrupted run`,
      );
      const fh = await open(path, 'r+');
      try {
        await fh.truncate(goodBytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      break;
    }
    if (rec === undefined || typeof rec !== 'object' || rec === null || Array.isArray(rec)) {
      throw new DataFormatError(
        path,
        i + 1,
        'is not a JSON record (harness/readJournal: every line of the journal is one finished cell); fix or remove that line',
      );
    }
    out.push(rec);
    goodBytes += Buffer.byteLength(line) + 1;
  }
  return out;
}

/** Appends one record as one line and fsyncs it before returning (a finished cell survives a kill). */
export async function appendJournal(path: string, record: ResultRecord): Promise<void> {
  const fh = await open(path, 'a');
  try {
    await fh.appendFile(`${JSON.stringify(record)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A reported record of a sweep: one per group (e.g. dataset × model × method × budget). */
export interface SweepGroup {
  /** The fields that identify the group (part of every cell key and of the reported record). */
  readonly id: Readonly<Record<string, ResultValue>>;
  /** For progress lines, e.g. `graphhash @ 0.25`. */
  readonly label: string;
  /** The tuning points tried (one point = no tuning). */
  readonly grid: readonly HyperParams[];
  /** This group's key options when they differ from the sweep's `shared` (e.g. another data set or model). */
  readonly shared?: Readonly<Record<string, ResultValue>> | undefined;
  /** What `run` needs to train the group's cells (not part of any key). */
  readonly context?: unknown;
}

/** One training run of a sweep. */
export interface SweepCell {
  readonly group: SweepGroup;
  readonly hp: HyperParams;
  readonly seed: number;
  /** `tune`: a grid point on the first seed; `seed`: the chosen point on a further seed. */
  readonly phase: 'tune' | 'seed';
  /** Hash of the shared options, the group, the point and the seed. */
  readonly key: string;
  /** 1-based position in the sweep and the sweep's size, for progress lines. */
  readonly index: number;
  readonly total: number;
  readonly label: string;
}

/** Options of {@link runSweep}. */
export interface SweepOptions {
  /** Output directory (journal + result files); none = keep nothing on disk. */
  readonly out?: string | undefined;
  /** Start over: move an existing journal aside (to `results.<time>.jsonl`) instead of resuming. */
  readonly fresh?: boolean | undefined;
  /** Everything besides the group, point and seed that changes a cell's result, incl. the dataset's identity. */
  readonly shared: Readonly<Record<string, ResultValue>>;
  readonly groups: readonly SweepGroup[];
  /** Seeds; the grid is searched on the first, the chosen point re-run on the others. */
  readonly seeds: readonly number[];
  /** Record key of the validation metric cells are chosen by (higher is better). */
  readonly select: string;
  /** Record keys averaged over seeds in the reported record (`key` = mean, `key.std` = sample std). */
  readonly aggregate: readonly string[];
  /** Trains and evaluates one cell. */
  readonly run: (cell: SweepCell) => Promise<ResultRecord>;
  /** Commit of the running code (recorded per cell; a journal from another commit gets a warning). */
  readonly gitCommit: string | null;
  /** Draws `out`'s plot.svg from the reported records (none when omitted). */
  readonly plot?: ((records: readonly ResultRecord[]) => string) | undefined;
  readonly log: (line: string) => void;
}

/** What {@link runSweep} returns. */
export interface SweepResult {
  /** The reported records of this sweep's groups, in group order. */
  readonly records: ResultRecord[];
  /** Every cell record of this sweep (finished now or resumed). */
  readonly cells: ResultRecord[];
  /** The reported records of every group in the journal (this sweep's and earlier ones'). */
  readonly all: ResultRecord[];
  readonly ran: number;
  readonly resumed: number;
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  const min = Math.round(s / 60);
  return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, '0')} min`;
}

function sameHp(r: ResultRecord, hp: HyperParams): boolean {
  return r.lr === hp.lr && (r.reg ?? null) === hp.wd;
}

/**
 * Summarises one group's cell records: the tuning cell with the best `select` value (ties: the
 * first in grid order) and, when the chosen point ran on several seeds, the mean and sample std of
 * every `aggregate` key over them. Cells without a numeric `select` (e.g. a method that does not
 * fit the budget) are never chosen; a group with no such cell reports its first cell as is.
 */
export function summarizeGroup(
  cells: readonly ResultRecord[],
  select: string,
  aggregate: readonly string[],
): ResultRecord | undefined {
  const tune = cells.filter((r) => r.phase === 'tune' || r.phase === undefined);
  if (tune.length === 0) return undefined;
  let chosen: ResultRecord | undefined;
  for (const r of tune) {
    const v = r[select];
    if (typeof v !== 'number' || Number.isNaN(v)) continue;
    if (!chosen || v > (chosen[select] as number)) chosen = r;
  }
  if (!chosen) return tune[0];
  const grid = tune.map((r) => ({ lr: r.lr ?? null, wd: r.reg ?? null, [select]: r[select] ?? null }));
  const hp = { lr: chosen.lr as number, wd: (chosen.reg ?? null) as number | null };
  const runs = [chosen, ...cells.filter((r) => r.phase === 'seed' && sameHp(r, hp))];
  const out: Record<string, ResultValue> = { ...chosen, phase: 'selected', tuneGrid: grid, selectedBy: select };
  // A sweep stopped mid-grid: the choice so far is reported, marked as such.
  if (typeof chosen.gridSize === 'number' && tune.length < chosen.gridSize) {
    out.tuneIncomplete = `${tune.length} of ${chosen.gridSize} grid points done`;
  }
  delete out.cellKey;
  if (runs.length > 1) {
    out.seeds = runs.map((r) => r.seed as number);
    for (const k of aggregate) {
      const vs = runs.map((r) => r[k]).filter((v): v is number => typeof v === 'number');
      if (vs.length !== runs.length) continue;
      const { mean, std } = meanStd(vs);
      out[k] = mean;
      out[`${k}.std`] = std;
    }
  }
  return out;
}

/**
 * Runs every cell of a sweep not yet in the journal: for each group every grid point on the first
 * seed, then the chosen point on every further seed; appends each finished cell to the journal and
 * rewrites the reported records. Prints one progress line per cell with the ETA of the whole sweep
 * (each cell left at the mean time of its method's cells run so far, or of all cells run so far).
 */
export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  if (!o.out) return sweep(o);
  await mkdir(o.out, { recursive: true });
  const release = await acquireLock(o.out, o.log);
  try {
    return await sweep(o);
  } finally {
    release();
  }
}

/** The lock file that keeps two sweeps from writing one output directory. */
export const LOCK_FILE = 'results.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `dir/results.lock` (pid, host, start time; created exclusively). A lock held by a live
 * process on this host is an error naming it; a stale one (its process is gone, e.g. killed) is
 * taken over with a log line. Returns the release function (also run at process exit).
 */
export async function acquireLock(dir: string, log: (line: string) => void): Promise<() => void> {
  const path = join(dir, LOCK_FILE);
  const me = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(`${JSON.stringify(me)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      const release = (): void => {
        process.removeListener('exit', release);
        try {
          const held = JSON.parse(readFileSync(path, 'utf8')) as { pid?: number };
          if (held.pid === me.pid) unlinkSync(path);
        } catch {
          // already gone
        }
      };
      process.on('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let held: { pid?: number; host?: string; startedAt?: string } = {};
    try {
      held = JSON.parse(await readFile(path, 'utf8')) as typeof held;
    } catch {
      // unreadable: treat as stale
    }
    if (typeof held.pid === 'number' && held.host === me.host && alive(held.pid)) {
      throw new InvalidArgumentError(
        `harness/runSweep: another sweep (pid ${held.pid}, started ${held.startedAt ?? '?'}) is writing ${dir}; wait for it, stop it, or give another output directory`,
      );
    }
    log(`[sweep] ${path}: taking over a stale lock (pid ${held.pid ?? '?'} on ${held.host ?? '?'} is gone)`);
    await rm(path, { force: true });
  }
  throw new InvalidArgumentError(`harness/runSweep: could not take the lock ${path}; remove it if no sweep is running`);
}

async function sweep(o: SweepOptions): Promise<SweepResult> {
  const seeds = o.seeds;
  const journalPath = o.out ? join(o.out, JOURNAL_FILE) : undefined;
  const journal = new Map<string, ResultRecord>();
  const journalRecords: ResultRecord[] = [];
  if (o.out && journalPath) {
    await mkdir(o.out, { recursive: true });
    if (o.fresh) {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      try {
        await rename(journalPath, join(o.out, `results.${stamp}.jsonl`));
        o.log(`[sweep] --fresh: moved the earlier ${JOURNAL_FILE} to results.${stamp}.jsonl`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    for (const r of await readJournal(journalPath, o.log)) {
      journalRecords.push(r);
      if (typeof r.cellKey === 'string') journal.set(r.cellKey, r);
    }
  }
  const groupKey = (g: SweepGroup): string => hashOf({ shared: g.shared ?? o.shared, group: g.id });
  const cellKey = (g: SweepGroup, hp: HyperParams, seed: number): string =>
    hashOf({ shared: g.shared ?? o.shared, group: g.id, lr: hp.lr, wd: hp.wd, seed });
  const total = o.groups.reduce((n, g) => n + g.grid.length + (seeds.length - 1), 0);
  const plannedKeys = new Set<string>();
  for (const g of o.groups) for (const hp of g.grid) plannedKeys.add(cellKey(g, hp, seeds[0]!));
  const resumable = [...plannedKeys].filter((k) => journal.has(k));
  if (journal.size > 0) {
    const commits = new Set(resumable.map((k) => journal.get(k)!.gitCommit ?? null));
    commits.delete(o.gitCommit);
    o.log(
      `[sweep] resuming from ${journalPath}: ${journalRecords.length} cell records, ${resumable.length} of this sweep's ${o.groups.reduce((n, g) => n + g.grid.length, 0)} tuning cells already done (skipped)`,
    );
    if (commits.size > 0) {
      o.log(
        `[sweep] warning: resumed cells were recorded at commit ${[...commits].map((c) => String(c).slice(0, 12)).join(', ')}, this code is ${String(o.gitCommit).slice(0, 12)}; their results are kept (each record carries its gitCommit) — use --fresh to recompute everything`,
      );
    }
  }
  const cells: ResultRecord[] = [];
  const byGroup = new Map<string, ResultRecord[]>();
  let index = 0;
  let ran = 0;
  let resumed = 0;
  let runSeconds = 0;
  // ETA: the cells left, each at the mean time of the cells of its method run so far (all cells'
  // mean for a method not run yet); tuning cells already in the journal cost nothing.
  const costClass = (g: SweepGroup): string => String(g.id.method ?? g.label);
  const plan: { cls: string; key?: string }[] = [];
  for (const g of o.groups) for (const hp of g.grid) plan.push({ cls: costClass(g), key: cellKey(g, hp, seeds[0]!) });
  for (let i = 1; i < seeds.length; i++) for (const g of o.groups) plan.push({ cls: costClass(g) });
  const secsByClass = new Map<string, { sum: number; n: number }>();
  const eta = (): number => {
    const mean = runSeconds / Math.max(1, ran);
    let t = 0;
    for (const p of plan.slice(index)) {
      if (p.key !== undefined && journal.has(p.key)) continue;
      const c = secsByClass.get(p.cls);
      t += c ? c.sum / c.n : mean;
    }
    return t;
  };
  const withPlot = (rs: ResultRecord[]): [ResultRecord[], string | undefined] => [rs, o.plot?.(rs)];
  const all = (): ResultRecord[] => summarizeJournal([...journalRecords], o.select, o.aggregate);
  const doCell = async (
    g: SweepGroup,
    hp: HyperParams,
    seed: number,
    phase: 'tune' | 'seed',
  ): Promise<ResultRecord> => {
    index++;
    const key = cellKey(g, hp, seed);
    const label = `${g.label} lr ${hp.lr}${hp.wd === null ? '' : ` wd ${hp.wd}`} seed ${seed}`;
    const done = journal.get(key);
    let rec: ResultRecord;
    if (done) {
      resumed++;
      o.log(`[sweep] cell ${index}/${total} ${label}: done in an earlier run, skipped`);
      rec = done;
    } else {
      o.log(`[sweep] cell ${index}/${total} ${label}: running`);
      const t0 = performance.now();
      const r = await o.run({ group: g, hp, seed, phase, key, index, total, label });
      const secs = (performance.now() - t0) / 1000;
      rec = {
        ...r,
        gitCommit: r.gitCommit ?? o.gitCommit,
        cellKey: key,
        groupKey: groupKey(g),
        phase,
        gridSize: g.grid.length,
        cellSeconds: secs,
      };
      if (journalPath) await appendJournal(journalPath, rec);
      journal.set(key, rec);
      journalRecords.push(rec);
      ran++;
      runSeconds += secs;
      const c = secsByClass.get(costClass(g)) ?? { sum: 0, n: 0 };
      secsByClass.set(costClass(g), { sum: c.sum + secs, n: c.n + 1 });
      const left = total - index;
      o.log(
        `[sweep] cell ${index}/${total} ${label}: finished in ${fmtDuration(secs)}; ${left} cells left, ETA ${fmtDuration(eta())} (${fmtDuration(runSeconds / ran)} per cell so far, per-method means)`,
      );
      if (o.out) await writeResults(o.out, ...withPlot(all()));
    }
    cells.push(rec);
    const k = groupKey(g);
    const list = byGroup.get(k) ?? [];
    list.push(rec);
    byGroup.set(k, list);
    return rec;
  };
  // Phase 1: every grid point of every group on the first seed.
  for (const g of o.groups) for (const hp of g.grid) await doCell(g, hp, seeds[0]!, 'tune');
  // Phase 2: the chosen point of every group on each further seed (seed-major: one data split at a time).
  const chosen = new Map<string, HyperParams | null>();
  for (const g of o.groups) {
    const s = summarizeGroup(byGroup.get(groupKey(g)) ?? [], o.select, o.aggregate);
    const ok = s && typeof s[o.select] === 'number';
    chosen.set(groupKey(g), ok ? { lr: s.lr as number, wd: (s.reg ?? null) as number | null } : null);
  }
  for (const seed of seeds.slice(1)) {
    for (const g of o.groups) {
      const hp = chosen.get(groupKey(g));
      if (hp) await doCell(g, hp, seed, 'seed');
      else index++;
    }
  }
  const records: ResultRecord[] = [];
  for (const g of o.groups) {
    const s = summarizeGroup(byGroup.get(groupKey(g)) ?? [], o.select, o.aggregate);
    if (s) records.push(s);
  }
  const summaries = all();
  if (o.out) await writeResults(o.out, ...withPlot(summaries));
  o.log(`[sweep] ${ran} cells run, ${resumed} resumed, ${records.length} reported records`);
  return { records, cells, all: summaries, ran, resumed };
}

/** The reported records of a whole journal: {@link summarizeGroup} per `groupKey`, in first-seen order. */
export function summarizeJournal(
  records: readonly ResultRecord[],
  select: string,
  aggregate: readonly string[],
): ResultRecord[] {
  const groups = new Map<string, ResultRecord[]>();
  const seen = new Set<string>();
  for (const r of records) {
    // The same cell twice (two runs that wrote one journal before the lock existed): the first counts.
    if (typeof r.cellKey === 'string') {
      if (seen.has(r.cellKey)) continue;
      seen.add(r.cellKey);
    }
    const k = typeof r.groupKey === 'string' ? r.groupKey : `cell:${String(r.cellKey)}`;
    const list = groups.get(k) ?? [];
    list.push(r);
    groups.set(k, list);
  }
  const out: ResultRecord[] = [];
  for (const list of groups.values()) {
    const s = summarizeGroup(list, select, aggregate);
    if (s) out.push(s);
  }
  return out;
}
