// The gradient flow of α·h next to its linearization, with the bounds of the theory, on the
// tight example of Theorem 1.3: h(w) = w/√T + b·w²/2, w0 = 0, R(v) = ½(v − √(2 R0))², for which
// Lip(Dh) = b exactly. Theorem 1.2 bounds the NTK approximation's error from above,
//   E(T) ≤ min(6κ√R0, √(8 R0)),   κ = (T/α)·Lip(Dh)·√R0,
// and Theorem 1.3 from below, E(T) ≥ min(κ√R0, √R0)/5. Run: node flow.mjs
import assert from 'node:assert/strict';
import { parseModel, flow } from 'ntk-lab';

const text = `
  const T = 100, b = 2, R0 = 0.5
  param w = 0
  model h = w / sqrt(T) + b * w^2 / 2
  loss square(target = sqrt(2 * R0))
`;
console.log('    α        E(T)   Thm 1.3 lower   Thm 1.2 upper       κ');
for (const alpha of [10, 100, 1000]) {
  const T = 100, b = 2;
  const model = parseModel(text, { set: { T, b } });
  // Lip(Dh) = b is known here (flowStudy estimates it when not given: certified upper bounds).
  const r = flow(model, { alpha, T, lipDh: b });
  const kappa = r.kappa;
  const upper = r.bound;   // Theorem 1.2, named as in `ntk flow --json`
  const lower = Math.min(kappa * Math.sqrt(r.R0), Math.sqrt(r.R0)) / 5;
  console.log(`${String(alpha).padStart(5)}  ${r.error.toExponential(4)}  ${lower.toExponential(4)}      ${upper.toExponential(4)}      ${kappa.toPrecision(4)}`);
  assert.ok(lower <= r.error && r.error <= upper, `α = ${alpha}: ${lower} ≤ ${r.error} ≤ ${upper}`);
  assert.ok(r.errorAccuracy !== null && r.errorAccuracy < 1e-3 * r.error);
}
