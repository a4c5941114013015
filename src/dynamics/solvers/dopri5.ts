/**
 * DOPRI5: the Dormand–Prince 5(4) pair (Dormand & Prince 1980) with Shampine's 4th-order
 * continuous extension, exactly as in Hairer's code DOPRI5 (Hairer–Nørsett–Wanner I, §II.5
 * and §II.6; coefficients from `dopri5.f`).
 *
 * Stages k_0..k_5 at c = 0, 1/5, 3/10, 4/5, 8/9, 1; y_new = y + h Σ b_j k_j; the seventh stage
 * k_6 = f(t+h, y_new) (FSAL) enters the error estimate and is the next step's k_0.
 * Error: h Σ e_j k_j with e = b − b̂ (b̂ the 4th-order weights). Real stability boundary ≈ 3.3,
 * hence Hairer's stiffness threshold h·ρ > 3.25.
 */
import type { ExplicitTableau } from './explicit.ts';

export const DOPRI5: ExplicitTableau = {
  name: 'dopri5',
  order: 5,
  embeddedOrder: 4,
  denseOrder: 4,
  errorExponent: 5,
  c: [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1],
  a: [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  ],
  b: [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
  fsal: true,
  // Index 6 is k_6 = f(t + h, y_new).
  e: [71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40],
  dense: {
    extraC: [],
    extraA: [],
    d: [[
      -12715105075 / 11282082432, 0, 87487479700 / 32700410799, -10690763975 / 1880347072,
      701980252875 / 199316789632, -1453857185 / 822651844, 69997945 / 29380423,
    ]],
  },
  stiffnessThreshold: 3.25,
};
