/**
 * The one list of solver methods the tests run. Adding a method to `METHODS` requires one line
 * here: the step counts N (step h = T/N on the order test problem, `riccati(20)`) over which its
 * global error is in the asymptotic regime, between about 1e-5 and 1e-12.
 */
import type { MethodName } from '../../../src/dynamics/solvers/index.ts';

export const ORDER_TEST_STEPS: Record<MethodName, number[]> = {
  dopri5: [200, 283, 400, 566, 800],
  dop853: [30, 42, 60, 85, 120],
  rosenbrock: [100, 141, 200, 283, 400],
};
