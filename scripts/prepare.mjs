// `prepare` (npm ci and npm install in a clone, npm pack): the full build, scripts/build.mjs.
// Except under `npx ntk` in a clone (npm_command 'exec'), which installs the clone into npx's
// cache as a link and so runs `prepare` on it again: when the command is built already, this
// returns at once instead of rebuilding everything in silence before the user's first command.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { root } from './startup.mjs';

if (!(process.env.npm_command === 'exec' && existsSync(resolve(root, 'dist/ntk.cjs')))) await import('./build.mjs');
