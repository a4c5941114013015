#!/usr/bin/env node
// The `ntk` command: the bundle built by `npm ci` (scripts/build.mjs, run as `prepare`).
import '../dist/ntk.js';
