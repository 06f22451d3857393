// Pack-and-install: every workspace package is packed (`npm pack`, running each prepack build), the
// tarballs an MF pipeline needs are installed into a scratch project outside the repository (offline,
// third-party packages from npm's cache at our lock's versions), @compactrec/native builds there from
// its shipped sources, and the example of packages/graphhash/README.md compiles against the installed
// type declarations and runs.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'compactrec-pack-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Asynchronous child processes: a worker blocked for minutes cannot answer vitest's RPC.
const exec = promisify(execFile);
async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return (await exec(cmd, args, { cwd, encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20 })).stdout;
}

interface Packed {
  name: string;
  filename: string;
  files: { path: string }[];
}

describe('pack and install outside the repository', () => {
  let packed: Packed[] = [];
  let project = '';
  const dirOf = new Map<string, string>();

  it('packs every package and installs the MF closure from the tarballs (native addon built there)', async () => {
    const out = await run(
      'node',
      [join(root, 'scripts/pack/pack-install.mjs'), '--dir', scratch, '--only', 'graphhash,interop,models'],
      root,
    );
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as { dir: string; packed: string[] };
    project = report.dir;
    packed = JSON.parse(readFileSync(join(scratch, 'tarballs', 'pack.json'), 'utf8')) as Packed[];
    const workspaces = JSON.parse(await run('npm', ['query', '.workspace'], root)) as {
      name: string;
      realpath: string;
    }[];
    for (const w of workspaces) dirOf.set(w.name, w.realpath);
    expect(report.packed.sort()).toEqual(workspaces.map((w) => w.name).sort());
    expect(existsSync(join(project, 'node_modules/@compactrec/native/build/Release/compactrec_native.node'))).toBe(
      true,
    );
    // x64 also gets the AVX2 + FMA build, loaded only on CPUs that report both.
    if (process.arch === 'x64') {
      expect(
        existsSync(join(project, 'node_modules/@compactrec/native/build/Release/compactrec_native_avx2.node')),
      ).toBe(true);
    }
    // An MF-only install does not pull TensorFlow.js.
    expect(existsSync(join(project, 'node_modules/@tensorflow'))).toBe(false);
  }, 600_000);

  it('ships what runs: LICENSE, the entry point, sources every source map names, no build-info files', () => {
    expect(packed.length).toBeGreaterThan(0);
    for (const p of packed) {
      const files = new Set(p.files.map((f) => f.path));
      const dir = dirOf.get(p.name)!;
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { main: string };
      expect(files.has('LICENSE'), `${p.name} LICENSE`).toBe(true);
      expect(files.has(normalize(manifest.main)), `${p.name} ${manifest.main}`).toBe(true);
      expect(
        [...files].filter((f) => f.endsWith('.tsbuildinfo')),
        p.name,
      ).toEqual([]);
      for (const f of files) {
        if (!f.endsWith('.map')) continue;
        const map = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { sources: string[] };
        for (const s of map.sources) {
          const target = relative('.', normalize(join(dirname(f), s)));
          expect(files.has(target), `${p.name}: ${f} points at ${target}`).toBe(true);
        }
      }
    }
    const native = new Set(packed.find((p) => p.name === '@compactrec/native')!.files.map((f) => f.path));
    expect(native.has('binding.gyp')).toBe(true);
    expect([...native].some((f) => f.startsWith('csrc/'))).toBe(true);
    for (const f of native) {
      if (f.startsWith('csrc/') || f === 'binding.gyp') {
        expect(readFileSync(join(root, 'packages/native', f), 'utf8'), f).not.toMatch(/-march=native/);
      }
    }
  });

  it('the GraphHash README example compiles against the installed types and runs: native kernels, falling loss, table round trip', async () => {
    expect(project).not.toBe('');
    const example = readFileSync(join(root, 'scripts/pack/example.ts'), 'utf8');
    expect(readFileSync(join(root, 'packages/graphhash/README.md'), 'utf8')).toContain(example.trim());
    copyFileSync(join(root, 'scripts/pack/example.ts'), join(project, 'example.ts'));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: false,
          typeRoots: [join(root, 'node_modules/@types')],
          types: ['node'],
          outDir: 'out',
        },
        files: ['example.ts'],
      }),
    );
    await run('node', [join(root, 'node_modules/typescript/bin/tsc'), '-p', project], project);
    const out = await run('node', [join(project, 'out/example.js')], project);
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
      kernels: string;
      itemRows: number;
      numItems: number;
      losses: number[];
      rowMatches: boolean;
    };
    expect(r.kernels).toBe('native');
    expect(r.itemRows).toBeLessThanOrEqual(Math.floor(0.25 * r.numItems));
    expect(r.losses.at(-1)!).toBeLessThan(r.losses[0]! * 0.95);
    expect(r.rowMatches).toBe(true);
  }, 300_000);
});
