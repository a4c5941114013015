/**
 * Makes the data files of the examples (committed; rerun with `npm run make-data` to rebuild
 * them bit for bit: every draw comes from the project's seeded generator).
 *
 *  - examples/X.npy  [16, 3]  inputs x ~ N(0, I/d), so ‖x‖ ≈ 1
 *  - examples/y.npy  [16]     targets y = tanh(⟨β, x⟩) with β ~ N(0, I)
 *  - examples/a.npy  [64]     second-layer weights a ~ Unif[−1/√m, 1/√m] (Section 2)
 *  - examples/y.csv  [8]      targets of examples/deep.ntk
 *  - examples/Xt.npy [8, 3]   held-out inputs of examples/meanfield-test.ntk, same law as X
 *  - examples/yt.npy [8]      their targets, yt = tanh(⟨β, x⟩) with the same β
 *  - examples/U.npy  [64, 3]  the first-layer weights that examples/meanfield.ntk draws for
 *                             `param U ~ uniform(−1/√m, 1/√m)` at --seed 0 (same stream), so that
 *                             examples/meanfield-centered.ntk starts from the same w0
 *
 * New files draw after the old ones from the same stream, so adding one never changes another.
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveNpy } from '../src/io/data.ts';
import { deriveSeed, Rng } from '../src/io/rng.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = (name: string) => resolve(root, 'examples', name);

const n = 16, d = 3, m = 64;
const rng = new Rng(20231);
const X = new Float64Array(n * d);
rng.fillNormal(X, 0, 1 / Math.sqrt(d));
const beta = new Float64Array(d);
rng.fillNormal(beta, 0, 1);
const y = new Float64Array(n);
for (let r = 0; r < n; r++) {
  let s = 0;
  for (let c = 0; c < d; c++) s += beta[c]! * X[r * d + c]!;
  y[r] = Math.tanh(s);
}
const a = new Float64Array(m);
rng.fillUniform(a, -1 / Math.sqrt(m), 1 / Math.sqrt(m));
saveNpy(out('X.npy'), { shape: [n, d], data: X });
saveNpy(out('y.npy'), { shape: [n], data: y });
saveNpy(out('a.npy'), { shape: [m], data: a });

const y8 = new Float64Array(8);
rng.fillNormal(y8, 0, 1);
writeFileSync(out('y.csv'), '# targets of examples/deep.ntk, one per input\n' + Array.from(y8, (v) => v.toPrecision(17)).join('\n') + '\n');

const nt = 8;
const Xt = new Float64Array(nt * d);
rng.fillNormal(Xt, 0, 1 / Math.sqrt(d));
const yt = new Float64Array(nt);
for (let r = 0; r < nt; r++) {
  let s = 0;
  for (let c = 0; c < d; c++) s += beta[c]! * Xt[r * d + c]!;
  yt[r] = Math.tanh(s);
}
saveNpy(out('Xt.npy'), { shape: [nt, d], data: Xt });
saveNpy(out('yt.npy'), { shape: [nt], data: yt });

// The elaborator's own stream for `param U` at seed 0 (elaborate.ts: deriveSeed(seed, kind, name)).
const U = new Float64Array(m * d);
new Rng(deriveSeed(0, 'param', 'U')).fillUniform(U, -1 / Math.sqrt(m), 1 / Math.sqrt(m));
saveNpy(out('U.npy'), { shape: [m, d], data: U });
console.log('wrote examples/X.npy, y.npy, a.npy, y.csv, Xt.npy, yt.npy, U.npy');
