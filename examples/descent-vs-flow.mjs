#!/usr/bin/env node
/**
 * Gradient descent against the gradient flow as η → 0 (docs/examples.md, example 3).
 *
 *   node examples/descent-vs-flow.mjs [FILE] [--alpha A] [--T T] [--steps N1,N2,…]
 *
 * Runs `ntk flow FILE --alpha A --T T` once and `ntk flow FILE --alpha A --lr T/N --steps N` for
 * each N, and prints, for η = T/N, the distance between the outputs after N steps and the flow's
 * at T = η·N, for the model (‖α h(w_N) − α h(w(T))‖) and for its linearization
 * (‖α h̄(w̄_N) − α h̄(w̄(T))‖), with the observed order log2(d(2η)/d(η)) (1 for a first-order
 * method: Euler's method on dw/dt = −(1/α²)∇R(α h(w))).
 */
import { execFileSync } from 'node:child_process';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, '..', 'bin', 'ntk.js');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const alpha = option('--alpha', '4');
const T = Number(option('--T', '10'));
const steps = option('--steps', '25,50,100,200,400').split(',').map(Number);
const file = args[0] ?? join(here, 'meanfield.ntk');
if (!(T > 0) || steps.some((n) => !Number.isInteger(n) || n < 1)) {
  process.stderr.write('usage: node examples/descent-vs-flow.mjs [FILE] [--alpha A] [--T T] [--steps N1,N2,…]\n');
  process.exit(2);
}

const ntk = (...a) => JSON.parse(execFileSync(process.execPath, [bin, 'flow', file, '--alpha', alpha, ...a, '--json'], { encoding: 'utf8' }));
const dist = (x, y) => Math.hypot(...x.map((v, i) => v - y[i]));
const g = (x) => (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5 ? x.toExponential(3) : x.toPrecision(4));

const ref = ntk('--T', String(T));
const rows = steps.map((N) => {
  const d = ntk('--lr', String(T / N), '--steps', String(N));
  return { eta: T / N, N, model: dist(d.out, ref.out), lin: dist(d.linOut, ref.linOut), E: d.error };
});
const head = ['η', 'N', '‖αh(w_N) − αh(w(T))‖', 'order', 'linearized', 'order', 'E after N steps'];
const cells = rows.map((r, i) => {
  const prev = rows[i - 1];
  const order = (a, b) => (prev ? (Math.log(a / b) / Math.log(prev.eta / r.eta)).toFixed(3) : '');
  return [g(r.eta), String(r.N), g(r.model), order(prev?.model, r.model), g(r.lin), order(prev?.lin, r.lin), g(r.E)];
});
const width = head.map((h, j) => Math.max(h.length, ...cells.map((c) => c[j].length)));
const line = (c) => '  ' + c.map((x, j) => x.padStart(width[j])).join('  ');
process.stdout.write(`${relative(process.cwd(), file)}, α = ${alpha}, T = η·N = ${T}: the flow has E(T) = ${g(ref.error)}\n`);
process.stdout.write([line(head), ...cells.map(line)].join('\n') + '\n');
