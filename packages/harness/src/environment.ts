import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { kernelInfo } from '@compactrec/native';

/** Where and with what a benchmark ran: flat fields added to every record (null when unknown). */
export interface RunEnvironment {
  readonly [key: string]: string | number | boolean | null;
  /** The checkout's commit, or null outside a git checkout. */
  readonly gitCommit: string | null;
  /** Uncommitted changes to tracked files when the run started. */
  readonly gitDirty: boolean | null;
  readonly compactrecVersion: string | null;
  readonly nodeVersion: string;
  /** Dense kernels in use (native or js). */
  readonly kernels: string;
  readonly platform: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly hostname: string;
  /** ISO time the environment was captured (the run's start). */
  readonly startedAt: string;
}

function git(args: string[], cwd: string): string | null {
  try {
    return execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    }).trim();
  } catch {
    return null;
  }
}

/** Captures the environment once per run (git commit, versions, machine, date). */
export function runEnvironment(now: Date = new Date()): RunEnvironment {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const commit = git(['rev-parse', 'HEAD'], here);
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no'], here);
  let version: string | null = null;
  try {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as {
      version?: string;
    };
    version = pkg.version ?? null;
  } catch {
    version = null;
  }
  const cpu = cpus();
  return {
    gitCommit: commit,
    gitDirty: status === null ? null : status !== '',
    compactrecVersion: version,
    nodeVersion: process.version,
    kernels: kernelInfo().kind,
    platform: `${process.platform}-${process.arch}`,
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cpus: cpu.length,
    memoryBytes: totalmem(),
    hostname: hostname(),
    startedAt: now.toISOString(),
  };
}
