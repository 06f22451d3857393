#!/usr/bin/env node
// Install step of @compactrec/native: builds the C++ kernels with node-gyp (portable flags, from csrc/).
// Never fails the install: without a compiler the JavaScript kernels are used, and this prints one notice
// saying so and how to build later. COMPACTREC_NATIVE_SKIP_BUILD=1 skips the build (the CompactRec
// repository's scripts/setup.sh builds it itself).
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
if (process.env.COMPACTREC_NATIVE_SKIP_BUILD === '1') process.exit(0);
const log = join(root, 'build-native.log');
// npm puts its bundled node-gyp on PATH for lifecycle scripts; npm_config_node_gyp names it too.
const gyp = process.env.npm_config_node_gyp;
const cmd = gyp ? process.execPath : 'node-gyp';
const args = gyp ? [gyp, 'rebuild', '--release'] : ['rebuild', '--release'];
const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', shell: !gyp && process.platform === 'win32' });
writeFileSync(log, `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`);
if (r.status === 0 && existsSync(join(root, 'build', 'Release', 'compactrec_native.node'))) {
  process.stdout.write('@compactrec/native: built the C++ kernels\n');
} else {
  process.stderr.write(
    `@compactrec/native: could not build the C++ kernels (node-gyp ${r.error ? r.error.message : `exit ${r.status}`}; log: ${log}); ` +
      'the JavaScript kernels will be used (slower; MF only, no LightGCN). Build later with a C++17 compiler, make and python3: ' +
      '`npm rebuild @compactrec/native`.\n',
  );
}
process.exit(0);
