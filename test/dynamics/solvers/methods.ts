/**
 * The one list of solver settings the tests run every method with. Adding a method to `METHODS`
 * requires one row here: the step counts N (step h = T/N on the order test problem,
 * `riccati(20)`) over which its global error is in the asymptotic regime, between about 1e-5 and
 * 1e-12, and what else it takes (the exponential methods: a stiff part, `lowRank`).
 */
import { PLAIN_LOW_RANK_OPS, type MethodName, type SolveOptions } from '../../../src/dynamics/solvers/index.ts';

/** A constant stiff part A = −λ on a scalar problem (Q = 1). */
export const scalarStiffPart = (lambda: number): NonNullable<SolveOptions['lowRank']> => ({
  linearPart: () => ({ Q: Float64Array.of(1), lambda: Float64Array.of(lambda), rank: 1 }),
  ops: PLAIN_LOW_RANK_OPS,
});

export const ORDER_TEST: Record<MethodName, { steps: number[]; options?: SolveOptions }> = {
  dopri5: { steps: [200, 283, 400, 566, 800] },
  dop853: { steps: [30, 42, 60, 85, 120] },
  rosenbrock: { steps: [100, 141, 200, 283, 400] },
  // with a stiff part near the problem's Jacobian (−2y ≈ −2): the exponential stages matter
  etdrk4: { steps: [200, 283, 400, 566, 800], options: { lowRank: scalarStiffPart(2) } },
  // A = 0 (the Adams–Bashforth–Moulton pair it reduces to): with a stiff part its fixed-step
  // errors superconverge irregularly (slopes 5 to 9 measured), which says nothing about order 6
  exponential: { steps: [40, 57, 80, 113, 160], options: { maxOrder: 5 } },
};
