import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BackendReport, backendReport, initTf, type TfPreference } from '@compactrec/tf-backend';
import type { Command, ParsedArgs } from '../args.js';

/** This file is `<repo>/apps/cli/{src,dist}/commands/doctor.*`. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** A file or folder the set-up installs, and whether it is there. */
interface Part {
  readonly what: string;
  readonly path: string;
  readonly found: boolean;
  readonly hint: string;
}

function parts(root: string): Part[] {
  const kernels = join(root, 'packages', 'native', 'build', 'Release', 'compactrec_native.node');
  const kafkaLibs = join(root, '.kafka', 'libs');
  const kafkaFound =
    existsSync(kafkaLibs) && readdirSync(kafkaLibs).some((f) => f.startsWith('kafka_') && f.endsWith('.jar'));
  return [
    {
      what: 'native kernels',
      path: kernels,
      found: existsSync(kernels),
      hint: 'the JavaScript kernels are used; build with bash scripts/setup.sh',
    },
    {
      what: 'kafka jars',
      path: kafkaLibs,
      found: kafkaFound,
      hint: 'streaming tests cannot start a broker; install with bash scripts/setup.sh',
    },
  ];
}

function formatReport(
  rt: { backend: string; reason: string; threads?: number },
  report: BackendReport,
  found: readonly Part[],
  root: string,
): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `node        ${process.version} (${process.platform}-${process.arch}, N-API ${process.versions.napi})`,
    `cores       ${availableParallelism()} (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`,
    `TensorFlow  ${rt.backend}${rt.threads === undefined ? '' : `, ${rt.threads} thread(s)`}: ${rt.reason}`,
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
    lines.push(`  ${b.backend.padEnd(11)} ${(b.available ? 'ok' : 'unavailable').padEnd(12)}${details}${source}`);
  }
  for (const p of found) {
    const rel = relative(root, p.path);
    lines.push(`${p.what.padEnd(15)} ${p.found ? `found    ${rel}` : `missing  ${rel} (${p.hint})`}`);
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
  summary: 'Show the machine, the TensorFlow.js backend chosen and why, and which optional parts are installed',
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
  details: 'The native backend is built by scripts/setup.sh (scripts/setup.d/tfjs-native.sh) into .tfjs/.',
  async run(args: ParsedArgs): Promise<number> {
    const prefer = args.prefer as TfPreference;
    const rt = await initTf({ prefer, quiet: true });
    const report = await backendReport();
    const found = parts(REPO_ROOT);
    if (args.json === true) {
      const out = {
        node: process.version,
        cores: availableParallelism(),
        tf: { backend: rt.backend, reason: rt.reason, threads: rt.threads ?? null },
        ...report,
        parts: found,
      };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else {
      process.stdout.write(`${formatReport(rt, report, found, REPO_ROOT)}\n`);
    }
    return 0;
  },
};
