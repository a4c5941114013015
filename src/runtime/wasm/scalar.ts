/**
 * Scalar twins of the vectorized exp, tanh and sigmoid of kernels.wat: the same IEEE
 * operations in the same order (JavaScript, like WebAssembly, never contracts a·b + c into an
 * FMA), so each returns bit for bit what the wasm kernel returns for the same input. The wasm
 * backend uses them below its size threshold, where copying into wasm memory costs more than
 * it saves, so that a result never depends on how many elements happened to be computed
 * together (block sizes, batch sizes). The maths is documented in kernels.wat.
 */

import { LN2_HI, LN2_LO } from '../../math/log.ts';

const LOG2E = 1.4426950408889634;
/** 2²⁷ + 1, Veltkamp's splitting constant. */
const SPLIT = 134217729;
const Q0 = 0.5, Q1 = 1.6666666666666666e-1, Q2 = 4.1666666666666664e-2, Q3 = 8.3333333333333332e-3;
const Q4 = 1.3888888888888889e-3, Q5 = 1.9841269841269841e-4, Q6 = 2.4801587301587302e-5;
const Q7 = 2.7557319223985893e-6, Q8 = 2.7557319223985888e-7, Q9 = 2.5052108385441720e-8;
const Q10 = 2.0876756987868100e-9, Q11 = 1.6059043836821613e-10, Q12 = 1.1470745597729725e-11;

/** Round half to even, as f64x2.nearest. */
function nearest(x: number): number {
  const r = Math.round(x); // half up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** 2^k for integral k ∈ [−1022, 1023] (exact). */
const pow2 = (k: number): number => 2 ** k;

/** The shared reduction: e^y = 2^k·(1 + r + h); returns k and sets R and H. */
let R = 0, H = 0;
function reduce(y: number): number {
  const k = nearest(y * LOG2E);
  const rhi = y - k * LN2_HI;
  const lo = k * LN2_LO;
  const r = rhi - lo;
  const c = (rhi - r) - lo;
  const r2 = r * r;
  const r4 = r2 * r2;
  const q = (((Q0 + Q1 * r) + (Q2 + Q3 * r) * r2) + ((Q4 + Q5 * r) + (Q6 + Q7 * r) * r2) * r4)
    + (((Q8 + Q9 * r) + (Q10 + Q11 * r) * r2) + Q12 * r4) * (r4 * r4);
  R = r;
  H = r2 * q + c * (r + 1);
  return k;
}

/** (nh + nl)/(dh + dl) by one correction of q = nh/dh with the exact residual (Dekker). */
function divDD(nh: number, nl: number, dh: number, dl: number): number {
  const q = nh / dh;
  const p = q * dh;
  let t = q * SPLIT;
  const ah = t - (t - q), al = q - ah;
  t = dh * SPLIT;
  const bh = t - (t - dh), bl = dh - bh;
  const pe = (((ah * bh - p) + ah * bl) + al * bh) + al * bl;
  return q + ((((nh - p) - pe) + nl) - q * dl) / dh;
}

/** eˣ, bitwise equal to the wasm kernel's (≤ 1 ulp from Math.exp). */
export function expScalar(x: number): number {
  // pmax(pmin(x, 710), −746): NaN passes through
  let y = 710 < x ? 710 : x;
  y = y < -746 ? -746 : y;
  const k = reduce(y);
  const k1 = Math.floor(k * 0.5);
  return ((1 + (R + H)) * pow2(k1)) * pow2(k - k1);
}

/** The coefficients of tanh's polynomial side (kernels.wat: P of degree 11 in s = a²). */
const P0 = -0.3333333333333333, P1 = 0.13333333333333042, P2 = -0.05396825396789699, P3 = 0.021869488519008305;
const P4 = -0.008863235103240878, P5 = 0.0035921217511549622, P6 = -0.0014557754120478055, P7 = 0.0005896606577757043;
const P8 = -0.0002375906496055562, P9 = 9.257116129556769e-05, P10 = -3.12011014257974e-05, P11 = 6.485163482793113e-06;

/**
 * tanh x, bitwise equal to the wasm kernel's (within 1 ulp of the exact value; see kernels.wat):
 * a + (a·s)·P(s) below |x| = 0.625, 1 − 2/(1 + e^{2|x|}) (with e in double-double) above.
 */
export function tanhScalar(x: number): number {
  const a = Math.abs(x);
  let z: number;
  if (a < 0.625) {
    const s = a * a, s2 = s * s, s4 = s2 * s2;
    const q = (((P0 + P1 * s) + (P2 + P3 * s) * s2) + ((P4 + P5 * s) + (P6 + P7 * s) * s2) * s4)
      + ((P8 + P9 * s) + (P10 + P11 * s) * s2) * (s4 * s4);
    z = a + (a * s) * q;
  } else {
    let y = 22 < a ? 22 : a; // pmin: NaN passes through
    y = y + y;
    const k = reduce(y);
    const tt = R + H;
    const te = H - (tt - R);
    let eh = 1 + tt;
    let el = (tt - (eh - 1)) + te;
    const sc = pow2(k);
    eh = eh * sc;
    el = el * sc;
    const dh = eh + 1;
    const dl = (1 - (dh - eh)) + el;
    const q = 2 / dh;
    z = 1 - (q - (q * q) * (dl * 0.5));
  }
  return x < 0 || Object.is(x, -0) ? -z : z;
}

/** 1/(1 + e⁻ˣ), bitwise equal to the wasm kernel's. */
export function sigmoidScalar(x: number): number {
  const nax = -Math.abs(x);
  const y = nax < -746 ? -746 : nax;
  const k = reduce(y);
  const tt = R + H;
  const te = H - (tt - R);
  let eh = 1 + tt;
  let el = (tt - (eh - 1)) + te;
  const k1 = Math.floor(k * 0.5);
  const s1 = pow2(k1), s2 = pow2(k - k1);
  eh = (eh * s1) * s2;
  el = (el * s1) * s2;
  const dh = 1 + eh;
  const dl = (eh - (dh - 1)) + el;
  const pos = x >= 0;
  return divDD(pos ? 1 : eh, pos ? 0 : el, dh, dl);
}
