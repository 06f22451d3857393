#!/usr/bin/env node
// Packs every workspace package (`npm pack`, which runs each package's prepack build) and installs the
// tarballs into a scratch project OUTSIDE the repository, the way a user would, then builds
// @compactrec/native there from its shipped C++ sources. Third-party packages come from npm's cache at
// the versions of this repository's package-lock.json (written into the scratch project's own lock),
// so the install is offline and reproducible.
//
//   node scripts/pack/pack-install.mjs [--dir DIR] [--only graphhash,models,...] [--skip-pack]
// --only installs those packages and the @compactrec packages they depend on (every package is still
// packed); without it every tarball is installed (≈ 370 MB with @tensorflow, minutes on a busy disk).
// Prints one JSON line: { dir, packed, installed, packSeconds, installSeconds }.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const dir = resolve(flag('dir') ?? mkdtempSync(join(tmpdir(), 'compactrec-pack-')));
if (dir.startsWith(`${root}/`))
  throw new Error(`pack-install: --dir ${dir} is inside the repository; use a folder outside it`);
const tarballs = join(dir, 'tarballs');
const proj = join(dir, 'project');
mkdirSync(tarballs, { recursive: true });
mkdirSync(proj, { recursive: true });
const log = (s) => process.stderr.write(`pack-install: ${s}\n`);

// Node headers for node-gyp without a download (as scripts/setup.sh does).
const env = { ...process.env };
const nodePrefix = resolve(process.execPath, '..', '..');
if (existsSync(join(nodePrefix, 'include/node/node_api.h'))) env.npm_config_nodedir = nodePrefix;
delete env.COMPACTREC_NATIVE_SKIP_BUILD;

const t0 = performance.now();
let packed;
if (args.includes('--skip-pack') && existsSync(join(tarballs, 'pack.json'))) {
  packed = JSON.parse(readFileSync(join(tarballs, 'pack.json'), 'utf8'));
} else {
  log(`npm pack --workspaces → ${tarballs}`);
  const out = execFileSync('npm', ['pack', '--workspaces', '--json', '--pack-destination', tarballs], {
    cwd: root,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  packed = JSON.parse(out.slice(out.indexOf('[')));
  writeFileSync(join(tarballs, 'pack.json'), JSON.stringify(packed, null, 2));
}
const packSeconds = (performance.now() - t0) / 1000;

// The scratch project: the tarballs as dependencies; the lock pins third-party packages to ours.
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const manifestOf = (name) =>
  JSON.parse(readFileSync(join(root, lock.packages[`node_modules/${name}`].resolved, 'package.json'), 'utf8'));
let wanted = new Set(packed.map((p) => p.name));
const only = flag('only');
if (only !== undefined) {
  wanted = new Set();
  const add = (name) => {
    if (wanted.has(name)) return;
    if (!packed.some((p) => p.name === name))
      throw new Error(`pack-install: --only names ${name}, which was not packed`);
    wanted.add(name);
    for (const d of Object.keys(manifestOf(name).dependencies ?? {})) if (d.startsWith('@compactrec/')) add(d);
  };
  for (const n of only.split(',')) add(n.startsWith('@') ? n : `@compactrec/${n}`);
}
const deps = {};
const packages = { '': { name: 'compactrec-scratch', dependencies: deps } };
for (const p of packed.filter((x) => wanted.has(x.name))) {
  const file = join(tarballs, p.filename);
  deps[p.name] = `file:../tarballs/${p.filename}`;
  const manifest = manifestOf(p.name);
  packages[`node_modules/${p.name}`] = {
    version: p.version,
    resolved: `file:../tarballs/${p.filename}`,
    integrity: `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`,
    ...(manifest.license ? { license: manifest.license } : {}),
    ...(manifest.dependencies ? { dependencies: manifest.dependencies } : {}),
    ...(manifest.bin ? { bin: manifest.bin } : {}),
    ...(manifest.engines ? { engines: manifest.engines } : {}),
    ...(manifest.scripts?.install ? { hasInstallScript: true } : {}),
  };
}
// Third-party packages reachable from the installed tarballs, at the lock's (hoisted) locations.
const resolveDep = (from, name) => {
  for (let at = from; ; at = at.slice(0, at.lastIndexOf('/node_modules/'))) {
    const k = `${at ? `${at}/` : ''}node_modules/${name}`;
    if (lock.packages[k] && !lock.packages[k].link) return k;
    if (!at.includes('/node_modules/')) {
      const top = `node_modules/${name}`;
      return lock.packages[top] && !lock.packages[top].link ? top : undefined;
    }
  }
};
const queue = Object.keys(packages).filter((k) => k !== '');
while (queue.length > 0) {
  const k = queue.pop();
  const e = packages[k];
  const from = k.startsWith('node_modules/@compactrec/') ? '' : k;
  // npm installs peers too (unless marked optional).
  const peers = Object.keys(e.peerDependencies ?? {}).filter((d) => !e.peerDependenciesMeta?.[d]?.optional);
  for (const d of new Set([...Object.keys({ ...e.dependencies, ...e.optionalDependencies }), ...peers])) {
    if (d.startsWith('@compactrec/')) continue;
    const r = resolveDep(from, d);
    if (r === undefined) {
      if (e.optionalDependencies?.[d]) continue;
      throw new Error(`pack-install: ${d} (needed by ${k}) is not in package-lock.json`);
    }
    if (packages[r]) continue;
    packages[r] = lock.packages[r];
    queue.push(r);
  }
}
writeFileSync(
  join(proj, 'package.json'),
  `${JSON.stringify({ name: 'compactrec-scratch', private: true, type: 'module', dependencies: deps, allowScripts: { '@compactrec/native': true } }, null, 2)}\n`,
);
writeFileSync(
  join(proj, 'package-lock.json'),
  `${JSON.stringify({ name: 'compactrec-scratch', lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
);
log(`npm ci --offline in ${proj} (builds @compactrec/native)`);
const t1 = performance.now();
execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], {
  cwd: proj,
  env,
  stdio: ['ignore', 'inherit', 'inherit'],
});
const installSeconds = (performance.now() - t1) / 1000;
process.stdout.write(
  `${JSON.stringify({ dir: proj, packed: packed.map((p) => p.name), installed: [...wanted], packSeconds, installSeconds })}\n`,
);
