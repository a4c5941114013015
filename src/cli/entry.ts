#!/usr/bin/env node
/** Entry point of the `ntk` binary (bundled to dist/ntk.js by scripts/build.mjs). */
import { main } from './main.ts';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
