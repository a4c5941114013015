// K^(3) and K^(4) of the Neural Tangent Hierarchy for a two-layer tanh network: as formulas
// (LaTeX) and as numbers, each checked against the definition
//   K^(r+1)(a1..ar, b) = ⟨∇_w K^(r)(a1..ar), ∇_w h_b⟩ = d/dε K^(r)(a1..ar)(w0 + ε ∇h_b) at ε = 0
// by a central finite difference. Run: node kernels.mjs
import assert from 'node:assert/strict';
import { parseModel, printKernel, hierarchy, kernel, vjp } from 'ntk-lab';

const model = parseModel(`
  dim n = 3, d = 2, m = 8
  data X : [n, d] = normal(0, 1, seed = 1)
  param a : [m] ~ normal(0, 1)
  param W : [m, d] ~ normal(0, 1)
  def f(x : [d]) = dot(a, tanh(W @ x)) / sqrt(m)
  model h = f(X)
`);
const k = 3; // outputs: one per row of X

// As mathematics: a function of three (four) data rows X_1, X_2, … (LaTeX `aligned` environments).
const tex3 = printKernel(model, 3, { latex: true });
const tex4 = printKernel(model, 4, { latex: true });
console.log(tex3, '\n');
console.log(`${tex4.slice(0, 400)} … (${tex4.length} characters)\n`);
assert.match(tex3, /K\^\{\(3\)\}\(X_\{1\}, X_\{2\}, X_\{3\}\)/);
assert.match(tex4, /K\^\{\(4\)\}\(X_\{1\}, X_\{2\}, X_\{3\}, X_\{4\}\)/);

// As numbers: K^(2), K^(3), K^(4) at w0, row-major tensors with k^r entries.
const [K2, K3, K4] = hierarchy(model, 4);
assert.deepEqual(K3.shape, [k, k, k]);
assert.deepEqual(K4.shape, [k, k, k, k]);
const at = (K, ...i) => K.data[i.reduce((s, x) => s * k + x, 0)];
console.log('K^(3)(a1, a2, ·) for each a1, a2:');
for (let a1 = 0; a1 < k; a1++)
  for (let a2 = 0; a2 < k; a2++)
    console.log(`  (${a1}, ${a2}):`, [0, 1, 2].map((b) => at(K3, a1, a2, b).toExponential(4)).join('  '));

// The definition, by finite differences along ∇h_b = Dhᵀ e_b.
function along(K, r, idx, b) {
  const e = new Float64Array(k);
  e[b] = 1;
  const g = vjp(model, e); // ∇h_b ∈ R^p
  const eps = 1e-5;
  const shifted = (s) => at(kernel(model, r, { w: model.w0.map((w, j) => w + s * eps * g[j]) }), ...idx);
  return (shifted(1) - shifted(-1)) / (2 * eps);
}
for (const [a1, a2, b] of [[0, 1, 2], [2, 2, 0]]) {
  const fd = along(K2, 2, [a1, a2], b);
  console.log(`K^(3)(${a1}, ${a2}, ${b}) = ${at(K3, a1, a2, b).toExponential(10)}, by finite differences ${fd.toExponential(10)}`);
  assert.ok(Math.abs(fd - at(K3, a1, a2, b)) <= 1e-7 * Math.max(1, Math.abs(fd)));
}
const fd4 = along(K3, 3, [0, 1, 2], 1);
console.log(`K^(4)(0, 1, 2, 1) = ${at(K4, 0, 1, 2, 1).toExponential(10)}, by finite differences ${fd4.toExponential(10)}`);
assert.ok(Math.abs(fd4 - at(K4, 0, 1, 2, 1)) <= 1e-7 * Math.max(1, Math.abs(fd4)));
// symmetric in the first two indices
assert.equal(at(K4, 0, 1, 2, 1), at(K4, 1, 0, 2, 1));
