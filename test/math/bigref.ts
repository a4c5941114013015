/**
 * An independent arbitrary-precision reference for erf/erfc: binary fixed point on BigInt
 * (value·2^P), the alternating Taylor series erf(x) = (2/√π)·Σ (−1)ⁿ x^{2n+1}/(n!(2n+1)) with
 * enough bits that its cancellation does not matter, and π from Machin's formula.
 * Slow (it is a test oracle), exact up to ~2⁻⁶⁰ relative after rounding to a double.
 */

/** atan(1/k)·2^P by its Taylor series. */
function atanInv(k: bigint, P: bigint): bigint {
  const one = 1n << P;
  const k2 = k * k;
  let power = one / k; // 1/k^{2n+1}
  let sum = 0n;
  for (let n = 0n; power !== 0n; n++) {
    const t = power / (2n * n + 1n);
    sum += n % 2n === 0n ? t : -t;
    power /= k2;
  }
  return sum;
}

function isqrt(v: bigint): bigint {
  if (v < 2n) return v;
  let x = 1n << BigInt((v.toString(2).length >> 1) + 1);
  for (;;) {
    const y = (x + v / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** The double x as an exact fixed-point integer x·2^P (P large enough for its lowest bit). */
function toFixed(x: number, P: bigint): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const neg = bits >> 63n === 1n;
  const expField = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const mant = expField === 0 ? frac : frac | (1n << 52n);
  const e = BigInt((expField === 0 ? 1 : expField) - 1075); // x = mant·2^e
  if (mant === 0n) return 0n;
  if (e + P < 0n) throw new Error('precision too small for this input');
  const v = mant << (e + P);
  return neg ? -v : v;
}

/** v·2^−P rounded to a double (to within 2⁻⁶⁰ relative). */
function fromFixed(v: bigint, P: bigint): number {
  const neg = v < 0n;
  if (neg) v = -v;
  const len = BigInt(v.toString(2).length);
  const shift = len > 64n ? len - 64n : 0n;
  let r = Number(v >> shift);
  let e = Number(shift - P);
  while (e < -1000) {
    r *= 2 ** -1000;
    e += 1000;
  }
  while (e > 1000) {
    r *= 2 ** 1000;
    e -= 1000;
  }
  r *= 2 ** e;
  return neg ? -r : r;
}

/** [erf(x), erfc(x)] to ~2⁻⁶⁰ relative, for doubles |x| ≤ 30. */
export function erfReference(x: number): [number, number] {
  const ax = Math.abs(x);
  // bits: the peak term ~e^{x²}, the smallness of erfc ~e^{−x²}, the input's lowest bit, guard.
  const P = BigInt(Math.ceil(3 * ax * ax) + 200 + Math.max(0, -Math.floor(Math.log2(ax || 1))));
  const one = 1n << P;
  const pi = 16n * atanInv(5n, P) - 4n * atanInv(239n, P);
  const sqrtPi = isqrt(pi << P);
  const X = toFixed(x, P);
  const X2 = (X * X) >> P;
  let power = X; // x^{2n+1}/n!
  let sum = 0n;
  for (let n = 0n; power !== 0n; n++) {
    const t = power / (2n * n + 1n);
    sum += n % 2n === 0n ? t : -t;
    power = ((power * X2) >> P) / (n + 1n);
  }
  const erfFixed = ((2n * sum) << P) / sqrtPi;
  return [fromFixed(erfFixed, P), fromFixed(one - erfFixed, P)];
}
