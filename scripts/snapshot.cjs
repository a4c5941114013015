// Builds the start-up snapshot of `ntk` (see src/cli/snapshot.ts), run by scripts/build.mjs as
//   node --snapshot-blob dist/ntk.blob --build-snapshot scripts/snapshot.cjs
// It loads the bundle dist/ntk.cjs exactly as bin/ntk.js does, as a classic script compiled with
// the code cache the build recorded (so the bytecode of every function in the cache is in the
// heap, and in the snapshot), with the flag that tells the bundle's entry to prepare the
// snapshot instead of running. V8 then writes the heap to the blob. A snapshot's builder may
// require Node's built-in modules only: the bundle requires nothing else when it loads.
'use strict';
const { existsSync, readFileSync } = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const file = path.resolve(__dirname, '../dist/ntk.cjs');
const cacheFile = `${file}.cache`;
const cachedData = existsSync(cacheFile) ? readFileSync(cacheFile) : undefined;
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {\n${readFileSync(file, 'utf8')}\n})`, {
  filename: file,
  lineOffset: -1,
  cachedData,
});
if (cachedData !== undefined && script.cachedDataRejected) console.error('snapshot: the code cache was rejected; the snapshot holds less compiled code');
globalThis[Symbol.for('ntk.buildSnapshot')] = true;
const mod = { exports: {} };
script.runInThisContext()(mod.exports, require, mod, file, path.dirname(file));
delete globalThis[Symbol.for('ntk.buildSnapshot')];
