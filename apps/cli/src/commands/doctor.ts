import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelInfo } from '@compactrec/native';
import { type BackendReport, backendReport, initTf, type TfPreference } from '@compactrec/tf-backend';
import type { Command, ParsedArgs } from '../args.js';

/** This file is `<repo>/apps/cli/{src,dist}/commands/doctor.*` when run from the repository. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/**
 * Whether `root` is a CompactRec repository checkout (its root package.json is `compactrec` and it has
 * scripts/setup.sh). Only there do repository hints such as `bash scripts/setup.sh` make sense; an
 * installed CLI (node_modules/@compactrec/cli) gets hints that work in the user's project.
 */
export function isRepository(root: string): boolean {
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name?: unknown };
    return pkg.name === 'compactrec' && existsSync(join(root, 'scripts', 'setup.sh'));
  } catch {
    return false;
  }
}

/** An optional part CompactRec can use, whether it is there, and what to do when it is not. */
export interface Part {
  readonly what: string;
  readonly found: boolean;
  /** Where it was found, or why it is missing. */
  readonly detail: string;
  /** What to do when it is missing ('' when found). */
  readonly hint: string;
}

/**
 * The native kernels as `@compactrec/native` itself loads them (so an installed CLI reports its own
 * addon), and, in a repository checkout, the Kafka jars the streaming tests start a broker from.
 */
export function parts(inRepo: boolean, root: string = REPO_ROOT): Part[] {
  const k = kernelInfo();
  const out: Part[] = [
    {
      what: 'native kernels',
      found: k.kind === 'native',
      detail: k.reason,
      hint:
        k.kind === 'native'
          ? ''
          : inRepo
            ? 'the JavaScript kernels are used; build with bash scripts/setup.sh'
            : 'the JavaScript kernels are used; build with npm rebuild @compactrec/native (needs a C++17 compiler, make and python3)',
    },
  ];
  if (inRepo) {
    const kafkaLibs = join(root, '.kafka', 'libs');
    const kafkaFound =
      existsSync(kafkaLibs) && readdirSync(kafkaLibs).some((f) => f.startsWith('kafka_') && f.endsWith('.jar'));
    out.push({
      what: 'kafka jars',
      found: kafkaFound,
      detail: relative(root, kafkaLibs),
      hint: kafkaFound ? '' : 'streaming tests cannot start a broker; install with bash scripts/setup.sh',
    });
  }
  return out;
}

/**
 * tfjs calls its native backend `tensorflow`; the CLI (`--backend`, `--prefer`) calls it `native`.
 * Doctor prints the CLI's names.
 */
export function backendName(tfjsName: string): string {
  return tfjsName === 'tensorflow' ? 'native' : tfjsName;
}

/** One external tool or service a feature needs, and whether this machine has it. */
export interface ToolCheck {
  readonly what: string;
  /** 'ok', 'missing' (not installed / not reachable) or 'unset' (nothing to check). */
  readonly status: 'ok' | 'missing' | 'unset';
  readonly detail: string;
  /** The features that need it. */
  readonly neededBy: string;
}

/** First line of `cmd args` (stdout or stderr), or null when it cannot run. */
function versionOf(cmd: string, args: readonly string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return null;
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim();
  return text.split('\n')[0]?.trim() ?? '';
}

/** Whether a TCP connection to `host:port` opens within `ms`. */
function reachable(hostPort: string, ms: number): Promise<string | null> {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hostPort.trim());
  if (!m) return Promise.resolve(`'${hostPort}' is not host:port`);
  return new Promise((done) => {
    const sock = connect({ host: m[1]!, port: Number(m[2]) });
    const finish = (why: string | null): void => {
      sock.destroy();
      done(why);
    };
    sock.setTimeout(ms, () => finish(`no answer within ${ms} ms`));
    sock.once('connect', () => finish(null));
    sock.once('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
  });
}

/** Java, the broker of KAFKA_BROKERS, SQLite (better-sqlite3), Chromium and Python, each with the features needing it. */
export async function toolChecks(
  env: NodeJS.ProcessEnv = process.env,
  inRepo: boolean = isRepository(REPO_ROOT),
): Promise<ToolCheck[]> {
  const out: ToolCheck[] = [];
  const setup = (repoHint: string, userHint: string): string => (inRepo ? repoHint : userHint);
  const java = versionOf('java', ['-version']);
  out.push({
    what: 'java',
    status: java ? 'ok' : 'missing',
    detail: java ?? `java not found on PATH (install a JDK 17+${setup(', e.g. via bash scripts/setup.sh', '')})`,
    neededBy: setup(
      'the local Kafka broker of the streaming tests (npm test) and of a self-hosted bse setup',
      'a self-hosted Kafka broker for the bse commands',
    ),
  });
  const brokers = env.KAFKA_BROKERS?.trim();
  if (!brokers) {
    out.push({
      what: 'kafka broker',
      status: 'unset',
      detail: 'KAFKA_BROKERS is not set (bse commands take --brokers)',
      neededBy: 'bse serve, bse produce, bse replay',
    });
  } else {
    const list = brokers.split(',').filter((b) => b.trim() !== '');
    const fails: string[] = [];
    for (const b of list) {
      const why = await reachable(b, 2000);
      if (why) fails.push(`${b.trim()}: ${why}`);
    }
    out.push({
      what: 'kafka broker',
      status: fails.length === 0 ? 'ok' : 'missing',
      detail:
        fails.length === 0
          ? `KAFKA_BROKERS ${brokers}: reachable`
          : `KAFKA_BROKERS ${brokers}: cannot connect (${fails.join('; ')})`,
      neededBy: 'bse serve, bse produce, bse replay',
    });
  }
  let sqlite: string | null = null;
  let sqliteWhy = '';
  try {
    const req = createRequire(import.meta.url);
    const Database = req('better-sqlite3') as new (
      path: string,
    ) => { prepare(sql: string): { pluck(): { get(): unknown } }; close(): void };
    const db = new Database(':memory:');
    sqlite = `SQLite ${String(db.prepare('select sqlite_version()').pluck().get())} (better-sqlite3)`;
    db.close();
  } catch (err) {
    sqliteWhy = (err as Error).message.split('\n')[0] ?? '';
  }
  out.push({
    what: 'sqlite',
    status: sqlite ? 'ok' : 'missing',
    detail:
      sqlite ??
      `better-sqlite3 does not load: ${sqliteWhy} (rebuild with ${setup('bash scripts/setup.sh', 'npm rebuild better-sqlite3')})`,
    neededBy: 'the bse state store (bse serve)',
  });
  const chromium =
    versionOf('chromium', ['--version']) ??
    versionOf('chromium-browser', ['--version']) ??
    versionOf('google-chrome', ['--version']);
  out.push({
    what: 'chromium',
    status: chromium ? 'ok' : 'missing',
    detail: chromium ?? 'chromium not found on PATH',
    neededBy: 'optional: no command needs it yet (rendering HTML reports headlessly)',
  });
  const python = versionOf('python3', ['--version']);
  out.push({
    what: 'python',
    status: python ? 'ok' : 'missing',
    detail: python ?? 'python3 not found on PATH',
    neededBy: setup(
      'bash scripts/setup.sh: node-gyp builds of the native kernels and better-sqlite3, the native TensorFlow install',
      'node-gyp builds of the native kernels and better-sqlite3 (npm rebuild)',
    ),
  });
  return out;
}

function formatReport(
  rt: { backend: string; reason: string; threads?: number },
  report: BackendReport,
  found: readonly Part[],
  tools: readonly ToolCheck[],
): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `node        ${process.version} (${process.platform}-${process.arch}, N-API ${process.versions.napi})`,
    `cores       ${availableParallelism()} (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`,
    `TensorFlow  ${backendName(rt.backend)}${rt.threads === undefined ? '' : `, ${rt.threads} thread(s)`}: ${rt.reason}`,
    `tfjs        ${report.tfjs} (native install: ${report.tfjsHome})`,
    'backends',
  ];
  for (const b of report.backends) {
    const details = b.available
      ? [b.version, b.threads === undefined ? undefined : `${b.threads} thread(s)`, b.libtensorflow]
          .filter((s) => s !== undefined)
          .join(', ')
      : b.reason;
    const source =
      b.backend === 'tensorflow' && b.available && report.nativeSource ? ` (from ${report.nativeSource})` : '';
    lines.push(
      `  ${backendName(b.backend).padEnd(11)} ${(b.available ? 'ok' : 'unavailable').padEnd(12)}${details}${source}`,
    );
  }
  for (const p of found) {
    lines.push(`${p.what.padEnd(15)} ${p.found ? `found    ${p.detail}` : `missing  ${p.detail} (${p.hint})`}`);
  }
  for (const t of tools) {
    lines.push(`${t.what.padEnd(15)} ${t.status.padEnd(8)} ${t.detail} [needed by: ${t.neededBy}]`);
  }
  return lines.join('\n');
}

/**
 * `compactrec doctor`: what this machine gives CompactRec — Node, cores, the TensorFlow.js backend that
 * training would use and why, every backend's status, and whether the optional native parts are installed —
 * so a slow run can be explained before it starts.
 */
export const doctorCommand: Command = {
  name: 'doctor',
  summary:
    'Show the machine, the TensorFlow.js backend chosen and why, and which optional parts and tools (Java, Kafka, SQLite, Chromium, Python) are there',
  options: [
    {
      name: 'prefer',
      type: 'string',
      description: 'Backend to try first, as training would (native = tfjs-node/libtensorflow)',
      choices: ['auto', 'native', 'wasm', 'cpu'],
      default: 'auto',
    },
    { name: 'json', type: 'boolean', description: 'Print one JSON object instead of text', default: false },
  ],
  details:
    "In the CompactRec repository the native TensorFlow backend is built by scripts/setup.sh (scripts/setup.d/tfjs-native.sh) into .tfjs/. Set KAFKA_BROKERS (host:port,...) to check that the bse commands' broker answers.",
  async run(args: ParsedArgs): Promise<number> {
    const prefer = args.prefer as TfPreference;
    const rt = await initTf({ prefer, quiet: true });
    const report = await backendReport();
    const inRepo = isRepository(REPO_ROOT);
    const found = parts(inRepo);
    const tools = await toolChecks(process.env, inRepo);
    if (args.json === true) {
      const out = {
        node: process.version,
        cores: availableParallelism(),
        tf: {
          backend: backendName(rt.backend),
          tfjsBackend: rt.backend,
          reason: rt.reason,
          threads: rt.threads ?? null,
        },
        ...report,
        backends: report.backends.map((b) => ({ ...b, backend: backendName(b.backend), tfjsBackend: b.backend })),
        inRepository: inRepo,
        parts: found,
        tools,
      };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else {
      process.stdout.write(`${formatReport(rt, report, found, tools)}\n`);
    }
    return 0;
  },
};
