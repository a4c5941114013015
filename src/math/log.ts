/**
 * ln(x) as fdlibm computes it, in IEEE operations and bit manipulation only: the same bits in
 * every JavaScript engine (and V8's Math.log's). At the bottom of the layers because the seeded
 * normal draws (`io/rng.ts`) need it; `$log` in runtime/wasm/kernels.wat is its twin.
 */

export const LN2_HI = 6.93147180369123816490e-01;
export const LN2_LO = 1.90821492927058770002e-10;

// ln(x): fdlibm's algorithm (Sun Microsystems, e_log.c), the one V8's Math.log runs, step for
// step, and the twin of $log in kernels.wat. Bit for bit Math.log in V8 (tested on millions of
// inputs), and the same value in every other engine, whose Math.log the language leaves free.
const LG1 = 6.666666666666735130e-01, LG2 = 3.999999999940941908e-01, LG3 = 2.857142874366239149e-01;
const LG4 = 2.222219843214978396e-01, LG5 = 1.818357216161805012e-01, LG6 = 1.531383769920937332e-01;
const LG7 = 1.479819860511658591e-01;
const bits = new Float64Array(1);
const words = new Int32Array(bits.buffer);
/** Which of `words` holds the sign, exponent and top of the mantissa (1 on little-endian hosts). */
const HI = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 1 : 0, LO = 1 - HI;

/**
 * ln(x) as fdlibm computes it: x = 2^k·(1 + f) with 1 + f in [√2/2, √2), s = f/(2 + f),
 * ln(1 + f) = f − s·(f − R(s²)) (or f − (f²/2 − s·(f²/2 + R)) where that cancels less), R a
 * polynomial of degree 7 in s² (Remez), plus k·ln2 split in two parts. The normal draws of
 * `Rng` use it, so that a seed gives the same weights in every JavaScript engine.
 * @example logScalar(Math.E) // 1
 */
export function logScalar(x: number): number {
  bits[0] = x;
  let hx = words[HI]!;
  const lx = words[LO]!;
  let k = 0;
  if (hx < 0x00100000) {
    if (((hx & 0x7fffffff) | lx) === 0) return -Infinity; // ±0
    if (hx < 0) return NaN;
    k -= 54; // subnormal: scale up
    x *= 18014398509481984; // 2^54
    bits[0] = x;
    hx = words[HI]!;
  }
  if (hx >= 0x7ff00000) return x + x; // +∞, NaN
  k += (hx >> 20) - 1023;
  hx &= 0x000fffff;
  const i = (hx + 0x95f64) & 0x100000;
  words[HI] = hx | (i ^ 0x3ff00000); // 1 + f: the exponent of 1, or of 1/2 above √2
  k += i >> 20;
  const f = bits[0]! - 1.0;
  const dk = k;
  if ((0x000fffff & (2 + hx)) < 3) {
    // |f| < 2^-20
    if (f === 0) return k === 0 ? 0 : dk * LN2_HI + dk * LN2_LO;
    const r = f * f * (0.5 - 0.33333333333333333 * f);
    return k === 0 ? f - r : dk * LN2_HI - ((r - dk * LN2_LO) - f);
  }
  const s = f / (2.0 + f);
  const z = s * s;
  const w = z * z;
  const r = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7))) + w * (LG2 + w * (LG4 + w * LG6));
  if (((hx - 0x6147a) | (0x6b851 - hx)) > 0) {
    const hfsq = 0.5 * f * f;
    return k === 0 ? f - (hfsq - s * (hfsq + r)) : dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f);
  }
  return k === 0 ? f - s * (f - r) : dk * LN2_HI - ((s * (f - r) - dk * LN2_LO) - f);
}
