// Prints where tfjs-node loads its N-API binding from (node-pre-gyp's rule, e.g. lib/napi-v8/tfjs_binding.node).
// Usage: node binding-path.cjs TFJS_NODE_DIR
'use strict';
const { createRequire } = require('node:module');
const path = require('node:path');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node binding-path.cjs TFJS_NODE_DIR');
  process.exit(2);
}
const req = createRequire(path.join(dir, 'package.json'));
console.log(req('@mapbox/node-pre-gyp').find(path.join(dir, 'package.json')));
