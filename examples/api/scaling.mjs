// A width-scaling study: the sup norms of the NTK K^(2) and of K^(3) at initialization for a
// two-layer tanh network of width m = 32 … 512 (three seeds each), with least-squares slopes of
// log ‖K^(r)‖∞ against log m. Theorem 2.3 of Huang & Yau predicts ‖K^(2)‖∞ of order 1 and
// ‖K^(3)‖∞ decaying like 1/m up to logarithms. Run: node scaling.mjs
import assert from 'node:assert/strict';
import { parseModel, widthScaling } from 'ntk-lab';

const text = `
  dim n = 4, d = 2, m = 32
  data X : [n, d] = normal(0, 1, seed = 1)
  param a : [m] ~ normal(0, 1)
  param W : [m, d] ~ normal(0, 1)
  def f(x : [d]) = dot(a, tanh(W @ x)) / sqrt(m)
  model h = f(X)
`;
const { points, fits } = widthScaling({
  load: (m, seed) => parseModel(text, { set: { m }, seed }),
  widths: [32, 64, 128, 256, 512],
  orders: [2, 3],
  seeds: [0, 1, 2],
});
for (const q of ['K2', 'K3']) {
  const row = [32, 64, 128, 256, 512].map((m) => {
    const vs = points.filter((p) => p.quantity === q && p.width === m).map((p) => p.value);
    return (vs.reduce((s, x) => s + x, 0) / vs.length).toExponential(3);
  });
  console.log(`${q}: mean ‖·‖∞ over seeds at m = 32 … 512: ${row.join('  ')}`);
}
for (const f of fits) console.log(`${f.quantity}: slope ${f.slope.toFixed(3)} ± ${f.stderr.toFixed(3)} over ${f.points} points`);
const slope = (q) => fits.find((f) => f.quantity === q).slope;
assert.ok(Math.abs(slope('K2')) < 0.25, 'K^(2) stays of order 1');
assert.ok(slope('K3') < -0.4, 'K^(3) decays with the width');
