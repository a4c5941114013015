// A custom analysis from the derivative primitives jvp (Dh·v), vjp (Dhᵀ·u) and hvp (∇²L·v):
//  1. λmax of the NTK K = Dh·Dhᵀ by power iteration on v ↦ Dhᵀ(Dh v), never forming Dh, against
//     the largest eigenvalue of ntk(model);
//  2. how much of the loss's curvature along that direction the NTK leaves out. For
//     L(w) = R(α·h(w)) with R(v) = ½‖v − y‖²,
//       vᵀ∇²L v = α²‖Dh v‖² + α⟨α h − y, D²h[v, v]⟩,
//     the Gauss–Newton part (what the linearized model has) plus the model's own curvature;
//     checked against directionalDerivative (D²h[v, v]). Run: node custom.mjs
import assert from 'node:assert/strict';
import { parseModel, evaluate, jvp, vjp, hvp, ntk, directionalDerivative, symmetricEigen } from 'ntk-lab';

const alpha = 4;
const model = parseModel(`
  dim n = 6, d = 3, m = 32
  data X : [n, d] = normal(0, 1, seed = 1)
  data y : [n] = [0.5, -1, 0.3, 0.8, -0.2, 1.1]
  param a : [m] ~ normal(0, 1)
  param W : [m, d] ~ normal(0, 1)
  def f(x : [d]) = dot(a, tanh(W @ x)) / sqrt(m)
  model h = f(X) / sqrt(n)
  loss square(target = y / sqrt(n))
`);
const dot = (u, v) => u.reduce((s, x, i) => s + x * v[i], 0);
const norm = (u) => Math.sqrt(dot(u, u));

// 1. power iteration on JᵀJ (p × p; its top eigenvalue is K's)
let v = new Float64Array(model.paramCount).map((_, i) => Math.sin(i + 1));
let lambda = 0;
for (let it = 0; it < 500; it++) {
  const u = vjp(model, jvp(model, v));
  const next = norm(u);
  v = u.map((x) => x / next);
  if (Math.abs(next - lambda) <= 1e-13 * next) break;
  lambda = next;
}
const K = ntk(model);
const { values } = symmetricEigen(K.data, K.rows);
const top = values[values.length - 1];
console.log(`λmax(K): power iteration ${lambda.toPrecision(12)}, eigendecomposition ${top.toPrecision(12)}`);
assert.ok(Math.abs(lambda - top) <= 1e-9 * top);

// 2. the curvature along v: Gauss–Newton part and the rest
const Jv = jvp(model, v);
const gaussNewton = alpha ** 2 * dot(Jv, Jv);
const total = dot(v, hvp(model, v, { alpha }));
const h = evaluate(model);
const target = [0.5, -1, 0.3, 0.8, -0.2, 1.1].map((y) => y / Math.sqrt(6)); // y/√n, as in the loss
const D2 = directionalDerivative(model, [v, v]); // D²h[v, v] ∈ R^k
const residual = h.map((x, i) => alpha * x - target[i]);
const rest = alpha * dot(residual, D2);
console.log(`vᵀ∇²L v = ${total.toPrecision(10)}: Gauss–Newton α²‖Dh v‖² = ${gaussNewton.toPrecision(10)}, model curvature α⟨αh − y, D²h[v, v]⟩ = ${rest.toPrecision(10)}`);
console.log(`the NTK leaves out ${((100 * Math.abs(rest)) / Math.abs(total)).toFixed(2)}% of the curvature along the top direction`);
assert.ok(Math.abs(total - (gaussNewton + rest)) <= 1e-10 * Math.abs(total));
