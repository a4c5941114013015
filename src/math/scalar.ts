/**
 * Scalar numerics at the bottom of the layers: functions of one double that the primitive
 * registry (`ir/primitives.ts`) names as the language's elementwise functions, and the helpers
 * its enclosure bounds are written with (sup |f^{(j)}| over an interval, rounded up).
 *
 * Nothing here imports anything of the project but `math/` itself.
 */

/**
 * softplus(x) = log(1 + eˣ) without overflow (x > 0: x + log(1 + e⁻ˣ)) or loss of tiny values
 * (log1p).
 * @example softplus(0) // = log 2
 */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/**
 * The logistic function σ(x) = 1/(1 + e⁻ˣ), evaluated on the side where e^{∓x} ≤ 1 (no
 * overflow): softplus′ = σ.
 * @example logistic(0) // = 0.5
 */
export function logistic(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** 2⁻⁵⁰: the relative inflation of enclosure radii per operation (a few ulps of Math.*). */
export const U = 2 ** -50;

/** Outward rounding of a computed range [a, b] (a few ulps of Math.* error). */
export const outward = (a: number, b: number): [number, number] => [a - Math.abs(a) * 8 * U - 1e-300, b + Math.abs(b) * 8 * U + 1e-300];

/** The range of an increasing function over [lo, hi], rounded outwards. */
export const increasing = (f: (x: number) => number) => (lo: number, hi: number) => outward(f(lo), f(hi));

/** sup |x| over [lo, hi]. */
export const absMax = (lo: number, hi: number) => Math.max(Math.abs(lo), Math.abs(hi));

/** inf |x| over [lo, hi]. */
export const absMin = (lo: number, hi: number) => (lo <= 0 && hi >= 0 ? 0 : Math.min(Math.abs(lo), Math.abs(hi)));

/** Rounded-up safety for sups computed with Math functions (a few ulps). */
export const up = (x: number) => x * (1 + 1e-14) + 1e-300;

/**
 * sup over [lo, hi] of a function g(|x|) that increases on [0, x*] and decreases after.
 * @example unimodalAbs((t) => t * Math.exp(-t * t), Math.SQRT1_2, -3, 3) // = g(1/√2)
 */
export function unimodalAbs(g: (t: number) => number, xStar: number, lo: number, hi: number): number {
  const a = absMin(lo, hi), b = absMax(lo, hi);
  if (a <= xStar && xStar <= b) return g(xStar);
  return Math.max(g(a), g(b));
}

/** sup_{[lo,hi]} |sin x| (phase 0) or |cos x| (phase π/2): 1 if a crest lies inside. */
export function supSinLike(lo: number, hi: number, phase: number): number {
  if (hi - lo >= Math.PI) return 1;
  // crests of |sin(x + phase)| at x = π/2 − phase + nπ
  const n = Math.ceil((lo + phase - Math.PI / 2) / Math.PI - 1e-12);
  const crest = Math.PI / 2 - phase + n * Math.PI;
  if (crest <= hi + 1e-12) return 1;
  return up(Math.max(Math.abs(Math.sin(lo + phase)), Math.abs(Math.sin(hi + phase))));
}
