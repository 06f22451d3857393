// Smoke test of the locally built tfjs-node: loads it the way @compactrec/tf-backend does (one copy of
// tfjs-core, the repo's), runs a small matmul on the 'tensorflow' backend, compares it with the 'cpu'
// backend and prints one JSON line: {tfjsNode, tensorflow, libtensorflow}. Exits 1 on any failure.
// Usage: node check-native.cjs REPO_ROOT TFJS_NODE_DIR [SOURCE]   (SOURCE: where libtensorflow came from)
'use strict';
const { createRequire } = require('node:module');
const fs = require('node:fs');
const path = require('node:path');

const [root, tfjsNodeDir, source] = process.argv.slice(2);
if (!root || !tfjsNodeDir) {
  console.error('usage: node check-native.cjs REPO_ROOT TFJS_NODE_DIR');
  process.exit(2);
}
const fromRepo = createRequire(path.join(root, 'package.json'));
const fromNode = createRequire(path.join(tfjsNodeDir, 'package.json'));
const repoTf = fs.realpathSync(fromRepo.resolve('@tensorflow/tfjs'));
const nodeTf = fs.realpathSync(fromNode.resolve('@tensorflow/tfjs'));
if (repoTf !== nodeTf) {
  console.error(`check-native: tfjs-node would load its own @tensorflow/tfjs (${nodeTf}), not the repo's (${repoTf})`);
  process.exit(1);
}
const tf = fromNode(tfjsNodeDir);
if (tf.getBackend() !== 'tensorflow') {
  console.error(`check-native: backend is ${tf.getBackend()}, not tensorflow`);
  process.exit(1);
}
const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
const b = tf.tensor2d([0.5, -1, 2, 0, 1, 1], [3, 2]);
const got = Array.from(tf.matMul(a, b).dataSync());
tf.setBackend('cpu');
const want = Array.from(tf.matMul(a, b).dataSync());
if (got.length !== want.length || got.some((v, i) => Math.abs(v - want[i]) > 1e-5)) {
  console.error(`check-native: tensorflow matmul ${got} differs from cpu ${want}`);
  process.exit(1);
}
const lib = fs.realpathSync(path.join(tfjsNodeDir, 'deps', 'lib', 'libtensorflow.so'));
const info = {
  tfjsNode: tf.version['tfjs-node'],
  tensorflow: tf.engine().findBackend('tensorflow')?.binding?.TF_Version ?? null,
  libtensorflow: lib,
  source: source ?? null,
  builtAt: new Date().toISOString(),
};
console.log(JSON.stringify(info));
