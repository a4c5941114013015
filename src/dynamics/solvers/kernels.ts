/**
 * Vector kernels of the steppers: linear combinations of stage vectors, fused so that each
 * pass over memory handles up to four stages (the steppers are memory-bound for large n).
 */

/** The nonzero entries of a coefficient row. */
export interface SparseRow { readonly idx: Int32Array; readonly coef: Float64Array }

export function sparse(row: readonly number[]): SparseRow {
  const idx: number[] = [], coef: number[] = [];
  row.forEach((v, j) => { if (v !== 0) { idx.push(j); coef.push(v); } });
  return { idx: Int32Array.from(idx), coef: Float64Array.from(coef) };
}

/**
 * out = base + scale · Σ_j row_j K[j] (base null: 0). `out` may alias `base`, never a K[j].
 * Allocates nothing.
 */
export function lincomb(out: Float64Array, base: Float64Array | null, scale: number, row: SparseRow,
  K: readonly Float64Array[]): void {
  const n = out.length, m = row.idx.length, idx = row.idx, coef = row.coef;
  let src: Float64Array;
  if (base) src = base;
  else { out.fill(0); src = out; }
  if (m === 0) { if (src !== out) out.set(src); return; }
  for (let j = 0; j < m; j += 4) {
    const r = Math.min(4, m - j);
    const c0 = scale * coef[j]!, k0 = K[idx[j]!]!;
    if (r === 1) {
      for (let i = 0; i < n; i++) out[i] = src[i]! + c0 * k0[i]!;
    } else if (r === 2) {
      const c1 = scale * coef[j + 1]!, k1 = K[idx[j + 1]!]!;
      for (let i = 0; i < n; i++) out[i] = src[i]! + c0 * k0[i]! + c1 * k1[i]!;
    } else if (r === 3) {
      const c1 = scale * coef[j + 1]!, k1 = K[idx[j + 1]!]!, c2 = scale * coef[j + 2]!, k2 = K[idx[j + 2]!]!;
      for (let i = 0; i < n; i++) out[i] = src[i]! + c0 * k0[i]! + c1 * k1[i]! + c2 * k2[i]!;
    } else {
      const c1 = scale * coef[j + 1]!, k1 = K[idx[j + 1]!]!, c2 = scale * coef[j + 2]!, k2 = K[idx[j + 2]!]!;
      const c3 = scale * coef[j + 3]!, k3 = K[idx[j + 3]!]!;
      for (let i = 0; i < n; i++) out[i] = src[i]! + c0 * k0[i]! + c1 * k1[i]! + c2 * k2[i]! + c3 * k3[i]!;
    }
    src = out;
  }
}
