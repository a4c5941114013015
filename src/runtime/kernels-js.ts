/**
 * The reference backend: every kernel of `Backend` in plain TypeScript over Float64Array.
 *
 * Rules that keep V8's optimizing compiler producing tight machine code here:
 *  - an op is chosen outside the element loop, one loop per op, no closures or objects per
 *    element (only a few small index arrays per call); the unary loops are generated from the
 *    registry's scalar code (`ir/ops.ts`), the binary ones too (per op and access pattern);
 *  - shapes are first "coalesced": size-1 axes are dropped and adjacent axes that are
 *    contiguous for every operand are merged, so most strided cases become one or two loops;
 *  - gemm is cache-blocked with a 2×4 register-blocked micro-kernel (see `gemm` below).
 */
import type { Backend } from './backend.ts';
import { PRIMITIVES, SCALAR_FUNCTIONS, unaryCode, type BinaryOp, type UnaryOp } from '../ir/ops.ts';
import { sizeOf, stridesOf } from '../ir/shape.ts';

// ---------------------------------------------------------------------------------------------
// Shape plumbing

/**
 * Strides of an operand of shape `shape` broadcast (numpy rules) to `outShape`: the row-major
 * stride on the axes it has, 0 on the axes it lacks or has as size 1.
 */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const lead = outShape.length - shape.length;
  const own = stridesOf(shape);
  const s = new Array<number>(outShape.length);
  for (let i = 0; i < outShape.length; i++) {
    const d = i < lead ? 1 : shape[i - lead]!;
    s[i] = d === 1 ? 0 : own[i - lead]!;
  }
  return s;
}

interface Coalesced {
  dims: number[];
  /** strides[o][axis] for each operand o. */
  strides: number[][];
}

/**
 * Drops size-1 axes and merges axis i into axis i+1 wherever, for every operand,
 * stride[i] = stride[i+1]·dims[i+1] (which includes stride 0 on both: a broadcast run). The
 * iteration order and the offsets visited are unchanged; there are just fewer, longer axes.
 * An empty `dims` means a single element.
 */
export function coalesce(dims: readonly number[], strides: readonly (readonly number[])[]): Coalesced {
  const outDims: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i]!;
    if (d === 1) continue;
    const last = outDims.length - 1;
    let merge = last >= 0;
    if (merge) {
      for (let o = 0; o < strides.length; o++) {
        if (outStrides[o]![last] !== strides[o]![i]! * d) {
          merge = false;
          break;
        }
      }
    }
    if (merge) {
      outDims[last]! *= d;
      for (let o = 0; o < strides.length; o++) outStrides[o]![last] = strides[o]![i]!;
    } else {
      outDims.push(d);
      for (let o = 0; o < strides.length; o++) outStrides[o]!.push(strides[o]![i]!);
    }
  }
  return { dims: outDims, strides: outStrides };
}

/**
 * An odometer over the coalesced axes but the last (each position is one row, which the caller
 * walks): `ia`, `ib` are two operands' offsets at the current row; `next()` moves to the next
 * row, carrying into the earlier axes.
 */
function rowOdometer(dims: readonly number[], sa: readonly number[], sb: readonly number[]) {
  const r = dims.length - 1;
  const idx = new Array<number>(Math.max(0, r)).fill(0);
  const state = {
    ia: 0,
    ib: 0,
    next() {
      for (let ax = r - 1; ax >= 0; ax--) {
        state.ia += sa[ax]!;
        state.ib += sb[ax]!;
        if (++idx[ax]! < dims[ax]!) return;
        state.ia -= sa[ax]! * dims[ax]!;
        state.ib -= sb[ax]! * dims[ax]!;
        idx[ax] = 0;
      }
    },
  };
  return state;
}

/** `shape` with its leading 1s removed. */
function stripLeadingOnes(shape: readonly number[]): readonly number[] {
  let i = 0;
  while (i < shape.length && shape[i] === 1) i++;
  return i === 0 ? shape : shape.slice(i);
}

/** Whether `suffix` (without its leading 1s) equals the trailing axes of `shape`. */
function isSuffixOf(suffix: readonly number[], shape: readonly number[]): boolean {
  const s = stripLeadingOnes(suffix);
  if (s.length > shape.length) return false;
  const off = shape.length - s.length;
  for (let i = 0; i < s.length; i++) if (s[i] !== shape[off + i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Unary

const unaryLoops = new Map<UnaryOp, (x: Float64Array, out: Float64Array, n: number) => void>();

/**
 * The loop out[i] = f(x[i]) of a unary op, generated from the registry's scalar code
 * (`unaryCode`: the same expression the fused loops inline), one function per op so that each
 * loop stays monomorphic; where the engine forbids generated code, a loop calling f.
 */
function unaryLoop(op: UnaryOp): (x: Float64Array, out: Float64Array, n: number) => void {
  let loop = unaryLoops.get(op);
  if (loop) return loop;
  try {
    const body = `for (let i = 0; i < n; i++) { const v = x[i]; out[i] = ${unaryCode(op, 'v')}; }`;
    loop = new Function('S', `return function unary_${op}(x, out, n) { ${body} };`)(SCALAR_FUNCTIONS) as typeof loop;
  } catch {
    const f = PRIMITIVES[op].scalar.f;
    loop = (x, out, n) => {
      for (let i = 0; i < n; i++) out[i] = f(x[i]!);
    };
  }
  unaryLoops.set(op, loop!);
  return loop!;
}

function unary(op: UnaryOp, x: Float64Array, out: Float64Array, n: number): void {
  unaryLoop(op)(x, out, n);
}

// ---------------------------------------------------------------------------------------------
// Binary

/**
 * The loops of a binary op, generated from the registry's scalar code (`code`, the expression the
 * fused loops inline) like the unary ones: one function per op and access pattern, so that each
 * loop stays monomorphic. `scalarB` branches first on the op's special constants (`specialB`:
 * pow's x·x, √x, x, 1/x, x·x·x, which agree with Math.pow up to rounding and, for 0.5, in the
 * IEEE sqrt edge cases √−0 = −0, √−∞ = NaN, where pow gives +0 and +∞), one loop each.
 */
interface BinaryLoops {
  /** out[i] = a[i] op b[i], i < n. */
  same: (a: Float64Array, b: Float64Array, out: Float64Array, n: number) => void;
  /** out[i] = a[i] op s. */
  scalarB: (a: Float64Array, s: number, out: Float64Array, n: number) => void;
  /** out[i] = s op b[i]. */
  scalarA: (s: number, b: Float64Array, out: Float64Array, n: number) => void;
  /** out[r·m + j] = a[r·m + j] op b[j]: b (m elements) repeats along the leading axes. */
  repeatB: (a: Float64Array, b: Float64Array, m: number, out: Float64Array, n: number) => void;
  /** out[r·m + j] = a[j] op b[r·m + j]: a (m elements) repeats along the leading axes. */
  repeatA: (a: Float64Array, m: number, b: Float64Array, out: Float64Array, n: number) => void;
  /** out[o + j] = a[ia + j·sa] op b[ib + j·sb] for j < len: one row of the general case. */
  row: (a: Float64Array, ia: number, sa: number, b: Float64Array, ib: number, sb: number, out: Float64Array, o: number, len: number) => void;
}

const binaryLoopCache = new Map<BinaryOp, BinaryLoops>();

/** The loops of `op`, generated on first use (where the engine forbids generated code: loops calling f). */
function binaryLoops(op: BinaryOp): BinaryLoops {
  let L = binaryLoopCache.get(op);
  if (L) return L;
  const { code, f, specialB = [] } = PRIMITIVES[op];
  const I = 'for (let i = 0; i < n; i++)';
  const RJ = 'for (let r = 0; r < n; r += m) for (let j = 0; j < m; j++)';
  const ROW = 'for (const end = o + len; o < end; o++, ia += sa, ib += sb)';
  const special = specialB.map((c) => `if (s === ${c}) { ${I} out[i] = ${code('a[i]', 's', c)}; return; }`).join(' ');
  const src = {
    same: `(a, b, out, n) { ${I} out[i] = ${code('a[i]', 'b[i]', undefined)}; }`,
    scalarB: `(a, s, out, n) { ${special} ${I} out[i] = ${code('a[i]', 's', undefined)}; }`,
    scalarA: `(s, b, out, n) { ${I} out[i] = ${code('s', 'b[i]', undefined)}; }`,
    repeatB: `(a, b, m, out, n) { ${RJ} out[r + j] = ${code('a[r + j]', 'b[j]', undefined)}; }`,
    repeatA: `(a, m, b, out, n) { ${RJ} out[r + j] = ${code('a[j]', 'b[r + j]', undefined)}; }`,
    row: `(a, ia, sa, b, ib, sb, out, o, len) { ${ROW} out[o] = ${code('a[ia]', 'b[ib]', undefined)}; }`,
  };
  try {
    L = Object.fromEntries(
      Object.entries(src).map(([kind, fn]) => [kind, new Function(`return function binary_${op}_${kind}${fn};`)()]),
    ) as unknown as BinaryLoops;
  } catch {
    L = {
      same: (a, b, out, n) => { for (let i = 0; i < n; i++) out[i] = f(a[i]!, b[i]!); },
      scalarB: (a, s, out, n) => { for (let i = 0; i < n; i++) out[i] = f(a[i]!, s); },
      scalarA: (s, b, out, n) => { for (let i = 0; i < n; i++) out[i] = f(s, b[i]!); },
      repeatB: (a, b, m, out, n) => { for (let r = 0; r < n; r += m) for (let j = 0; j < m; j++) out[r + j] = f(a[r + j]!, b[j]!); },
      repeatA: (a, m, b, out, n) => { for (let r = 0; r < n; r += m) for (let j = 0; j < m; j++) out[r + j] = f(a[j]!, b[r + j]!); },
      row: (a, ia, sa, b, ib, sb, out, o, len) => { for (const end = o + len; o < end; o++, ia += sa, ib += sb) out[o] = f(a[ia]!, b[ib]!); },
    };
  }
  binaryLoopCache.set(op, L);
  return L;
}

function binary(
  op: BinaryOp,
  a: Float64Array, aShape: readonly number[],
  b: Float64Array, bShape: readonly number[],
  out: Float64Array, outShape: readonly number[],
): void {
  const n = sizeOf(outShape);
  if (n === 0) return;
  const na = sizeOf(aShape);
  const nb = sizeOf(bShape);
  const L = binaryLoops(op);
  if (na === n && nb === n) return L.same(a, b, out, n);
  if (nb === 1) return L.scalarB(a, b[0]!, out, n);
  if (na === 1) return L.scalarA(a[0]!, b, out, n);
  if (na === n && isSuffixOf(bShape, outShape)) return L.repeatB(a, b, nb, out, n);
  if (nb === n && isSuffixOf(aShape, outShape)) return L.repeatA(a, na, b, out, n);

  // General case: odometer over the coalesced output axes but the last, which is one row.
  const { dims, strides } = coalesce(outShape, [broadcastStrides(aShape, outShape), broadcastStrides(bShape, outShape)]);
  const sa = strides[0]!;
  const sb = strides[1]!;
  const r = dims.length; // ≥ 2 in practice: one axis would have been a case above
  if (r === 0) return L.same(a, b, out, 1);
  const len = dims[r - 1]!;
  const la = sa[r - 1]!;
  const lb = sb[r - 1]!;
  const row = rowOdometer(dims, sa, sb);
  for (let o = 0; o < n; o += len, row.next()) L.row(a, row.ia, la, b, row.ib, lb, out, o, len);
}

// ---------------------------------------------------------------------------------------------
// gemm
//
// Blocking scheme (Goto/BLIS style, sized for a 32 KiB L1 and a ≥ 512 KiB L2):
//
//   for j0 in N by NC                      (a column panel of C and op(B))
//     for k0 in K by KC                    (a slab of the inner dimension)
//       pack op(B)[k0:+KC, j0:+NC] into Bp, as NR-column micro-panels, each KC×NR contiguous
//       (k-major, zero-padded to NR columns)
//       for i0 in M by MC
//         rows of op(A)[i0:+MC, k0:+KC]: read in place when A is not transposed (each row is
//         contiguous), else packed row-major into Ap first
//         for each NR-column micro-panel of Bp  (KC×NR·8 B = 8 KiB: stays in L1)
//           for each MR = 2 rows of A          (the MC×KC block of A stays in L2)
//             micro-kernel: a 2×4 tile of C held in 8 local accumulators over all KC.
//
// The first K-slab writes C ← beta·C + alpha·AB (beta = 0 never reads C, so NaNs in C are
// ignored), later slabs accumulate C += alpha·AB. Measured in V8 at 512³: 2×4 ≈ 3.3–3.6
// GFLOP/s, 4×4 / 3×4 / 4×2 a little slower (register pressure), a blocked i-k-j loop 0.8.
// Reading A in place rather than packing it was as fast or faster (and much faster for small N).

const NR = 4;
const MC = 64;
const KC = 256;
const NC = 1024;
/** Up to this many multiply-adds (≈3×3×3), the plain triple loop beats packing (measured). */
const SMALL_GEMM = 32;

let packedB = new Float64Array(0);
let packedA = new Float64Array(0);
let gemvScratch = new Float64Array(0);
const tileScratch = new Float64Array(2 * NR);

/**
 * Packs op(B)[k0:k0+kc, j0:j0+nc] into `packedB` as ⌈nc/NR⌉ micro-panels: panel p holds, for
 * k = 0..kc−1, the NR values op(B)(k0+k, j0+p·NR+t), t < NR. Past column nc the panel is
 * zero-filled so the micro-kernel never needs a column count; those accumulators are discarded.
 */
function packB(transB: boolean, B: Float64Array, bOff: number, ldb: number, k0: number, kc: number, j0: number, nc: number): void {
  const P = packedB;
  let p = 0;
  for (let jj = 0; jj < nc; jj += NR) {
    const w = Math.min(NR, nc - jj);
    if (!transB) {
      // op(B)(k, j) = B[bOff + k·ldb + j]
      let src = bOff + k0 * ldb + j0 + jj;
      if (w === NR) {
        for (let k = 0; k < kc; k++, src += ldb, p += NR) {
          P[p] = B[src]!;
          P[p + 1] = B[src + 1]!;
          P[p + 2] = B[src + 2]!;
          P[p + 3] = B[src + 3]!;
        }
      } else {
        for (let k = 0; k < kc; k++, src += ldb) {
          let t = 0;
          for (; t < w; t++) P[p++] = B[src + t]!;
          for (; t < NR; t++) P[p++] = 0;
        }
      }
    } else {
      // op(B)(k, j) = B[bOff + j·ldb + k]: NR contiguous source rows, read side by side
      const r0 = bOff + (j0 + jj) * ldb + k0;
      if (w === NR) {
        const r1 = r0 + ldb, r2 = r1 + ldb, r3 = r2 + ldb;
        for (let k = 0; k < kc; k++, p += NR) {
          P[p] = B[r0 + k]!;
          P[p + 1] = B[r1 + k]!;
          P[p + 2] = B[r2 + k]!;
          P[p + 3] = B[r3 + k]!;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          let t = 0;
          for (; t < w; t++) P[p++] = B[r0 + t * ldb + k]!;
          for (; t < NR; t++) P[p++] = 0;
        }
      }
    }
  }
}

/** Packs op(A)[i0:i0+mc, k0:k0+kc] for transposed A (op(A)(i, k) = A[aOff + k·lda + i]) row-major, row stride kc. */
function packATransposed(A: Float64Array, aOff: number, lda: number, i0: number, mc: number, k0: number, kc: number): void {
  const P = packedA;
  for (let k = 0; k < kc; k++) {
    const src = aOff + (k0 + k) * lda + i0;
    for (let i = 0, d = k; i < mc; i++, d += kc) P[d] = A[src + i]!;
  }
}

/** C tile (h×w at pc) ← bet·C + alpha·acc, from the row-major h×NR accumulators in tileScratch. */
function storeTile(C: Float64Array, pc: number, ldc: number, h: number, w: number, alpha: number, bet: number): void {
  const acc = tileScratch;
  for (let i = 0; i < h; i++, pc += ldc) {
    for (let j = 0; j < w; j++) {
      const v = alpha * acc[i * NR + j]!;
      C[pc + j] = bet === 0 ? v : bet * C[pc + j]! + v;
    }
  }
}

/**
 * The 2×4 micro-kernel: C[pc.., 2×w] ← bet·C + alpha·Σ_k a(i, k)·Bp(k, j) for rows
 * i ∈ {pa, pa + lda} of A (contiguous along k) and one packed micro-panel of Bp at pb.
 */
function kernel2x4(
  kc: number, A: Float64Array, pa: number, lda: number, Bp: Float64Array, pb: number,
  C: Float64Array, pc: number, ldc: number, w: number, alpha: number, bet: number,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  const end = pa + kc;
  for (let p = pa, q = pa + lda; p < end; p++, q++, pb += NR) {
    const a0 = A[p]!;
    const a1 = A[q]!;
    const b0 = Bp[pb]!, b1 = Bp[pb + 1]!, b2 = Bp[pb + 2]!, b3 = Bp[pb + 3]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
  }
  if (w === NR) {
    const q = pc + ldc;
    if (bet === 0) {
      C[pc] = alpha * c00; C[pc + 1] = alpha * c01; C[pc + 2] = alpha * c02; C[pc + 3] = alpha * c03;
      C[q] = alpha * c10; C[q + 1] = alpha * c11; C[q + 2] = alpha * c12; C[q + 3] = alpha * c13;
    } else if (bet === 1) {
      C[pc] += alpha * c00; C[pc + 1] += alpha * c01; C[pc + 2] += alpha * c02; C[pc + 3] += alpha * c03;
      C[q] += alpha * c10; C[q + 1] += alpha * c11; C[q + 2] += alpha * c12; C[q + 3] += alpha * c13;
    } else {
      C[pc] = bet * C[pc]! + alpha * c00; C[pc + 1] = bet * C[pc + 1]! + alpha * c01;
      C[pc + 2] = bet * C[pc + 2]! + alpha * c02; C[pc + 3] = bet * C[pc + 3]! + alpha * c03;
      C[q] = bet * C[q]! + alpha * c10; C[q + 1] = bet * C[q + 1]! + alpha * c11;
      C[q + 2] = bet * C[q + 2]! + alpha * c12; C[q + 3] = bet * C[q + 3]! + alpha * c13;
    }
    return;
  }
  const t = tileScratch;
  t[0] = c00; t[1] = c01; t[2] = c02; t[3] = c03;
  t[4] = c10; t[5] = c11; t[6] = c12; t[7] = c13;
  storeTile(C, pc, ldc, 2, w, alpha, bet);
}

/** The 1×4 micro-kernel for the last row when the block has an odd number of rows. */
function kernel1x4(
  kc: number, A: Float64Array, pa: number, Bp: Float64Array, pb: number,
  C: Float64Array, pc: number, ldc: number, w: number, alpha: number, bet: number,
): void {
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
  const end = pa + kc;
  for (let p = pa; p < end; p++, pb += NR) {
    const a0 = A[p]!;
    c0 += a0 * Bp[pb]!; c1 += a0 * Bp[pb + 1]!; c2 += a0 * Bp[pb + 2]!; c3 += a0 * Bp[pb + 3]!;
  }
  const t = tileScratch;
  t[0] = c0; t[1] = c1; t[2] = c2; t[3] = c3;
  storeTile(C, pc, ldc, 1, w, alpha, bet);
}

/** C[cOff + i·ldc + j] ← beta·C (beta = 0: zeros, whatever C held) for an M×N block. */
function scaleC(M: number, N: number, beta: number, C: Float64Array, cOff: number, ldc: number): void {
  if (beta === 1) return;
  for (let i = 0, p = cOff; i < M; i++, p += ldc) {
    if (beta === 0) C.fill(0, p, p + N);
    else for (let j = 0; j < N; j++) C[p + j]! *= beta;
  }
}

/**
 * y_i ← alpha·Σ_k opX(i, k)·v_k + beta·y_i for i < m, with opX(i, k) = X[xOff + i·ldx + k]
 * or, if xT, X[xOff + k·ldx + i]; v_k = v[vOff + k·vInc], y_i = y[yOff + i·yInc].
 * gemm's M = 1 and N = 1 cases, where packing would cost as much as the product.
 */
function gemv(
  m: number, K: number, alpha: number, X: Float64Array, xOff: number, ldx: number, xT: boolean,
  v: Float64Array, vOff: number, vInc: number, beta: number, y: Float64Array, yOff: number, yInc: number,
): void {
  if (!xT) {
    // rows of X are contiguous: one dot product each
    for (let i = 0, row = xOff, yi = yOff; i < m; i++, row += ldx, yi += yInc) {
      let s = 0;
      for (let k = 0, vk = vOff; k < K; k++, vk += vInc) s += X[row + k]! * v[vk]!;
      y[yi] = beta === 0 ? alpha * s : beta * y[yi]! + alpha * s;
    }
    return;
  }
  // columns of X are contiguous: accumulate scaled rows (axpy) into a scratch vector
  if (gemvScratch.length < m) gemvScratch = new Float64Array(Math.max(m, 2 * gemvScratch.length));
  const t = gemvScratch;
  t.fill(0, 0, m);
  for (let k = 0, row = xOff, vk = vOff; k < K; k++, row += ldx, vk += vInc) {
    const s = v[vk]!;
    for (let i = 0; i < m; i++) t[i]! += X[row + i]! * s;
  }
  for (let i = 0, yi = yOff; i < m; i++, yi += yInc) {
    y[yi] = beta === 0 ? alpha * t[i]! : beta * y[yi]! + alpha * t[i]!;
  }
}

/** The plain triple loop with general strides, for tiny products. */
function gemmSmall(
  transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float64Array, aOff: number, lda: number, B: Float64Array, bOff: number, ldb: number,
  beta: number, C: Float64Array, cOff: number, ldc: number,
): void {
  // op(A)(i, k) = A[aOff + i·ai + k·ak], op(B)(k, j) = B[bOff + k·bk + j·bj]
  const ai = transA ? 1 : lda, ak = transA ? lda : 1;
  const bk = transB ? 1 : ldb, bj = transB ? ldb : 1;
  for (let i = 0; i < M; i++) {
    const c = cOff + i * ldc;
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0, pa = aOff + i * ai, pb = bOff + j * bj; k < K; k++, pa += ak, pb += bk) s += A[pa]! * B[pb]!;
      C[c + j] = beta === 0 ? alpha * s : beta * C[c + j]! + alpha * s;
    }
  }
}

function gemm(
  transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float64Array, aOff: number, lda: number,
  B: Float64Array, bOff: number, ldb: number,
  beta: number, C: Float64Array, cOff: number, ldc: number,
): void {
  if (M <= 0 || N <= 0) return;
  // BLAS: with alpha = 0 or K = 0, A and B are not read.
  if (K <= 0 || alpha === 0) return scaleC(M, N, beta, C, cOff, ldc);
  if (N === 1) {
    // c_i = Σ_k op(A)(i, k)·op(B)(k, 0)
    return gemv(M, K, alpha, A, aOff, lda, transA, B, bOff, transB ? 1 : ldb, beta, C, cOff, ldc);
  }
  if (M === 1) {
    // c_j = Σ_k op(B)(k, j)·op(A)(0, k), op(B)(k, j) = B[j·ldb + k] if transB else B[k·ldb + j]
    return gemv(N, K, alpha, B, bOff, ldb, !transB, A, aOff, transA ? lda : 1, beta, C, cOff, 1);
  }
  if (M * N * K <= SMALL_GEMM) return gemmSmall(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);

  const ncMax = Math.min(N, NC);
  const needB = Math.ceil(ncMax / NR) * NR * Math.min(K, KC);
  if (packedB.length < needB) packedB = new Float64Array(needB);
  if (transA) {
    const needA = Math.min(M, MC) * Math.min(K, KC);
    if (packedA.length < needA) packedA = new Float64Array(needA);
  }
  const Bp = packedB;

  for (let j0 = 0; j0 < N; j0 += NC) {
    const nc = Math.min(NC, N - j0);
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kc = Math.min(KC, K - k0);
      const bet = k0 === 0 ? beta : 1;
      packB(transB, B, bOff, ldb, k0, kc, j0, nc);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mc = Math.min(MC, M - i0);
        // rows of op(A)[i0:i0+mc, k0:k0+kc]: row i starts at src + i·ld and is contiguous
        let src: Float64Array, srcOff: number, ld: number;
        if (transA) {
          packATransposed(A, aOff, lda, i0, mc, k0, kc);
          src = packedA;
          srcOff = 0;
          ld = kc;
        } else {
          src = A;
          srcOff = aOff + i0 * lda + k0;
          ld = lda;
        }
        const mEven = mc & ~1;
        for (let jj = 0; jj < nc; jj += NR) {
          const w = Math.min(NR, nc - jj);
          const pb = jj * kc;
          const cBase = cOff + i0 * ldc + j0 + jj;
          for (let ii = 0; ii < mEven; ii += 2) {
            kernel2x4(kc, src, srcOff + ii * ld, ld, Bp, pb, C, cBase + ii * ldc, ldc, w, alpha, bet);
          }
          if (mEven < mc) kernel1x4(kc, src, srcOff + mEven * ld, Bp, pb, C, cBase + mEven * ldc, ldc, w, alpha, bet);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// matmul

let dotScratch = new Float64Array(0);

/**
 * out[o] = ⟨a_ia(o), b_ib(o)⟩ for batched 1×K by K×1 products whose output batch pairs every a
 * with every b once: G = A·Bᵀ by one gemm (A: aBatch×K, B: bBatch×K, both contiguous), then
 * out[o] = G[ia(o), ib(o)] in the broadcast batch order.
 */
function outerDots(
  gemm: Backend['gemm'],
  a: Float64Array, aShape: readonly number[], b: Float64Array, bShape: readonly number[],
  out: Float64Array, batch: readonly number[], K: number, aBatch: number, bBatch: number,
): void {
  const { dims, strides } = coalesce(batch, [
    broadcastStrides(aShape.slice(0, aShape.length - 2), batch),
    broadcastStrides(bShape.slice(0, bShape.length - 2), batch),
  ]);
  const [sa, sb] = strides as [number[], number[]];
  const nb = dims.length;
  // The common layout, out[i, j] = ⟨a_i, b_j⟩ row-major (a's axes before b's): the gemm writes
  // the output itself, no scratch and no copy.
  if (nb === 2 && dims[0] === aBatch && dims[1] === bBatch && sa[0] === 1 && sa[1] === 0 && sb[0] === 0 && sb[1] === 1) {
    gemm(false, true, aBatch, bBatch, K, 1, a, 0, K, b, 0, K, 0, out, 0, bBatch);
    return;
  }
  if (dotScratch.length < aBatch * bBatch) dotScratch = new Float64Array(aBatch * bBatch);
  const G = dotScratch;
  gemm(false, true, aBatch, bBatch, K, 1, a, 0, K, b, 0, K, 0, G, 0, bBatch);
  if (nb === 0) {
    out[0] = G[0]!;
    return;
  }
  const last = nb - 1, len = dims[last]!, la = sa[last]!, lb = sb[last]!;
  const row = rowOdometer(dims, sa, sb);
  for (let o = 0; o < out.length; o += len, row.next())
    for (let t = 0, pa = row.ia, pb = row.ib; t < len; t++, pa += la, pb += lb) out[o + t] = G[pa * bBatch + pb]!;
}

/**
 * Batched 1×K by K×1 products whose batch axes are each shared (both operands vary along it),
 * a's only or b's only: for each index s of the shared axes, the rows of a and of b at s are
 * gathered and G_s = A_s·B_sᵀ is one gemm (a-only × b-only), scattered into the output. The
 * dot products of all pairs within each shared index, e.g. ⟨x(a1, a3, a4), c(a1, a2)⟩ of the
 * hierarchy's kernels. Returns false (nothing done) when some axis is broadcast in both.
 */
function sharedOuterDots(
  gemm: Backend['gemm'],
  a: Float64Array, aShape: readonly number[], b: Float64Array, bShape: readonly number[],
  out: Float64Array, batch: readonly number[], K: number,
): boolean {
  const { dims, strides } = coalesce(batch, [
    broadcastStrides(aShape.slice(0, aShape.length - 2), batch),
    broadcastStrides(bShape.slice(0, bShape.length - 2), batch),
    stridesOf(batch),
  ]);
  const [sa, sb, so] = strides as [number[], number[], number[]];
  const shared: number[] = [], aOnly: number[] = [], bOnly: number[] = [];
  for (let ax = 0; ax < dims.length; ax++) {
    if (sa[ax] !== 0 && sb[ax] !== 0) shared.push(ax);
    else if (sa[ax] !== 0) aOnly.push(ax);
    else if (sb[ax] !== 0) bOnly.push(ax);
    else return false;
  }
  if (aOnly.length === 0 || bOnly.length === 0) return false;
  // Σ idx·stride over every combination of the indices of `axes` (row-major).
  const offsets = (axes: number[], st: number[]): Int32Array => {
    let list = [0];
    for (const ax of axes) {
      const next: number[] = [];
      for (const o of list) for (let i = 0; i < dims[ax]!; i++) next.push(o + i * st[ax]!);
      list = next;
    }
    return Int32Array.from(list);
  };
  const sA = offsets(shared, sa), sB = offsets(shared, sb), sO = offsets(shared, so);
  const iA = offsets(aOnly, sa), iO = offsets(aOnly, so);
  const jB = offsets(bOnly, sb), jO = offsets(bOnly, so);
  const nI = iA.length, nJ = jB.length;
  const A = new Float64Array(nI * K), B = new Float64Array(nJ * K), G = new Float64Array(nI * nJ);
  for (let s = 0; s < sA.length; s++) {
    for (let i = 0; i < nI; i++) A.set(a.subarray((sA[s]! + iA[i]!) * K, (sA[s]! + iA[i]! + 1) * K), i * K);
    for (let j = 0; j < nJ; j++) B.set(b.subarray((sB[s]! + jB[j]!) * K, (sB[s]! + jB[j]! + 1) * K), j * K);
    gemm(false, true, nI, nJ, K, 1, A, 0, K, B, 0, K, 0, G, 0, nJ);
    for (let i = 0; i < nI; i++) {
      const o = sO[s]! + iO[i]!;
      for (let j = 0; j < nJ; j++) out[o + jO[j]!] = G[i * nJ + j]!;
    }
  }
  return true;
}

/**
 * `Backend.syrk` (C ← alpha·op(A)·op(A)ᵀ + beta·C on one triangle) on top of a given `gemm`,
 * blocked: C's triangle is cut into blocks of SYRK_BLOCK rows and columns; a block off the
 * diagonal is one gemm straight into C, a diagonal block one gemm into a scratch block of which
 * only the triangle is stored. The multiply-adds are those of the triangle plus half of each
 * diagonal block, n(n + SYRK_BLOCK)/2·K, against n²K for gemm(A, Aᵀ); the other strict triangle
 * of C is never written. The JS and wasm backends' syrk (and the native one's when the addon
 * predates its dsyrk).
 * @example const syrk = syrkWith(jsBackend.gemm); syrk('upper', false, n, K, 1, A, 0, K, 0, C, 0, n);
 */
export function syrkWith(gemm: Backend['gemm']): Backend['syrk'] {
  return (uplo, trans, n, K, alpha, A, aOff, lda, beta, C, cOff, ldc) => {
    if (n <= 0) return;
    const upper = uplo === 'upper';
    const nb = Math.min(SYRK_BLOCK, n);
    const D = new Float64Array(nb * nb);
    // row i of op(A) starts at rowOf(i) and steps by `step` along K
    const rowOf = (i: number) => aOff + (trans ? i : i * lda);
    for (let i0 = 0; i0 < n; i0 += nb) {
      const bi = Math.min(nb, n - i0);
      // the diagonal block, its triangle only (D = alpha·A_I·A_Iᵀ, then C ← D + beta·C there)
      gemm(trans, !trans, bi, bi, K, alpha, A, rowOf(i0), lda, A, rowOf(i0), lda, 0, D, 0, bi);
      for (let r = 0; r < bi; r++) {
        const c0 = upper ? r : 0, c1 = upper ? bi : r + 1;
        const at = cOff + (i0 + r) * ldc + i0;
        for (let c = c0; c < c1; c++) C[at + c] = beta === 0 ? D[r * bi + c]! : D[r * bi + c]! + beta * C[at + c]!;
      }
      // the blocks beside it in the triangle: rows I against the columns after (upper) or before (lower)
      const j0 = upper ? i0 + bi : 0, j1 = upper ? n : i0;
      if (j1 > j0) gemm(trans, !trans, bi, j1 - j0, K, alpha, A, rowOf(i0), lda, A, rowOf(j0), lda, beta, C, cOff + i0 * ldc + j0, ldc);
    }
  };
}

/** The block of `syrkWith`: large enough for gemm's efficiency, small enough that diagonal blocks add little. */
const SYRK_BLOCK = 64;

/**
 * The plain definition of `Backend.syrk`, one dot product per entry of the triangle (the
 * reference the backends are tested against; O(n²K), no blocking).
 * @example syrkReference('lower', false, 2, 1, 1, Float64Array.of(1, 2), 0, 1, 0, C, 0, 2); // C = [1, ·, 2, 4]
 */
export function syrkReference(
  uplo: 'upper' | 'lower', trans: boolean, n: number, K: number, alpha: number,
  A: Float64Array, aOff: number, lda: number, beta: number, C: Float64Array, cOff: number, ldc: number,
): void {
  const at = (i: number, l: number) => A[aOff + (trans ? l * lda + i : i * lda + l)]!;
  for (let i = 0; i < n; i++)
    for (let j = uplo === 'upper' ? i : 0; j < (uplo === 'upper' ? n : i + 1); j++) {
      let s = 0;
      for (let l = 0; l < K; l++) s += at(i, l) * at(j, l);
      const c = cOff + i * ldc + j;
      C[c] = beta === 0 ? alpha * s : alpha * s + beta * C[c]!;
    }
}

/**
 * Copy one triangle of the n×n matrix at C[cOff] (row stride ldc) onto the other, so that it is
 * exactly symmetric: after `syrk` on `uplo`, C(j, i) ← C(i, j) for the entries of that triangle.
 * @example mirrorTriangle('upper', n, G, 0, n); // G(j, i) = G(i, j) for j > i
 */
export function mirrorTriangle(uplo: 'upper' | 'lower', n: number, C: Float64Array, cOff: number, ldc: number): void {
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const up = cOff + i * ldc + j, lo = cOff + j * ldc + i;
      if (uplo === 'upper') C[lo] = C[up]!;
      else C[up] = C[lo]!;
    }
}

/**
 * `Backend.matmul` on top of a given `gemm`: the batch-axis analysis below (folding, stacking,
 * all-pairs dot products) is the same for every backend, only the products differ. A backend
 * with a faster gemm gets its matmul from here.
 * @example const matmul = matmulWith(myBackend.gemm); matmul(a, [2, 3], b, [3, 4], out, [2, 4]);
 */
export function matmulWith(gemm: Backend['gemm']): Backend['matmul'] {
  return (a, aShape, b, bShape, out, outShape) => matmulBy(gemm, a, aShape, b, bShape, out, outShape);
}

function matmulBy(
  gemm: Backend['gemm'],
  a: Float64Array, aShape: readonly number[],
  b: Float64Array, bShape: readonly number[],
  out: Float64Array, outShape: readonly number[],
): void {
  const ra = aShape.length, rb = bShape.length, ro = outShape.length;
  const M = aShape[ra - 2]!, K = aShape[ra - 1]!, N = bShape[rb - 1]!;
  const batch = outShape.slice(0, ro - 2);
  const nBatch = sizeOf(batch);
  if (nBatch === 0 || M === 0 || N === 0) return;
  const aBatch = sizeOf(aShape.slice(0, ra - 2));
  const bBatch = sizeOf(bShape.slice(0, rb - 2));

  // b shared by every batch: a's batch is contiguous and so is out's, so stack a's matrices
  // into one (batch·M)×K matrix and do one product.
  if (bBatch === 1) return gemm(false, false, nBatch * M, N, K, 1, a, 0, K, b, 0, N, 0, out, 0, N);
  // a shared and N = 1: out viewed as batch×M is (b viewed as batch×K)·aᵀ.
  if (aBatch === 1 && N === 1) return gemm(false, true, nBatch, M, K, 1, b, 0, K, a, 0, K, 0, out, 0, M);

  // Dot products of every a with every b (M = N = 1, no batch axis along which both vary):
  // one gemm of all a's rows against all b's, then a gather into the output's batch order.
  if (M === 1 && N === 1 && nBatch === aBatch * bBatch && aBatch * bBatch <= 1 << 24) return outerDots(gemm, a, aShape, b, bShape, out, batch, K, aBatch, bBatch);
  // Likewise within each index of the batch axes along which both vary.
  if (M === 1 && N === 1 && K >= 16 && nBatch >= 1024 && sharedOuterDots(gemm, a, aShape, b, bShape, out, batch, K)) return;

  // General: one gemm per output batch; a batch axis of size 1 (or missing) has stride 0, so
  // a shared operand is reused in place. Batch axes are coalesced first. With M = 1, one batch
  // axis along which b is shared (stride 0) and a is not is folded into the rows of a single
  // gemm (A's rows at a constant stride); with N = 1 likewise into the columns, computing
  // Cᵀ = Bᵀ·Aᵀ. A batch of row-vector × matrix products becomes one matrix product.
  const mk = M * K, kn = K * N, mn = M * N;
  const so = stridesOf(batch);
  const { dims, strides } = coalesce(batch, [broadcastStrides(aShape.slice(0, ra - 2), batch), broadcastStrides(bShape.slice(0, rb - 2), batch), so]);
  const [sa, sb, sc] = strides as [number[], number[], number[]];
  let fold = -1;
  if (M === 1 || N === 1) {
    for (let ax = 0; ax < dims.length; ax++) {
      const ok = M === 1 ? sb[ax] === 0 && sa[ax] !== 0 : sa[ax] === 0 && sb[ax] !== 0;
      if (ok && (fold < 0 || dims[ax]! > dims[fold]!)) fold = ax;
    }
  }
  const nb = dims.length;
  const idx = new Array<number>(nb).fill(0);
  const steps = fold < 0 ? nBatch : nBatch / dims[fold]!;
  let ia = 0, ib = 0, io = 0;
  for (let t = 0; t < steps; t++) {
    if (fold < 0) gemm(false, false, M, N, K, 1, a, ia * mk, K, b, ib * kn, N, 0, out, io * mn, N);
    else if (M === 1) gemm(false, false, dims[fold]!, N, K, 1, a, ia * mk, sa[fold]! * mk, b, ib * kn, N, 0, out, io * mn, sc[fold]! * mn);
    else gemm(false, true, dims[fold]!, M, K, 1, b, ib * kn, sb[fold]! * kn, a, ia * mk, K, 0, out, io * mn, sc[fold]! * mn);
    for (let ax = nb - 1; ax >= 0; ax--) {
      if (ax === fold) continue;
      ia += sa[ax]!;
      ib += sb[ax]!;
      io += sc[ax]!;
      if (++idx[ax]! < dims[ax]!) break;
      ia -= sa[ax]! * dims[ax]!;
      ib -= sb[ax]! * dims[ax]!;
      io -= sc[ax]! * dims[ax]!;
      idx[ax] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reductions and structural ops

function sum(x: Float64Array, xShape: readonly number[], axes: readonly number[], out: Float64Array): void {
  out.fill(0);
  const n = sizeOf(xShape);
  if (n === 0) return;
  // Merge runs of adjacent kept / reduced axes (size-1 axes are neither).
  const dims: number[] = [];
  const red: boolean[] = [];
  for (let i = 0; i < xShape.length; i++) {
    const d = xShape[i]!;
    if (d === 1) continue;
    const r = axes.includes(i);
    if (dims.length > 0 && red[red.length - 1] === r) dims[dims.length - 1]! *= d;
    else {
      dims.push(d);
      red.push(r);
    }
  }
  const r = dims.length;
  if (r === 0 || (r === 1 && !red[0])) {
    for (let i = 0; i < n; i++) out[i] = x[i]!;
    return;
  }
  if (r === 1) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]!;
    out[0] = s;
    return;
  }
  if (r === 2 && !red[0]) {
    // trailing axes reduced: row sums
    const rows = dims[0]!, m = dims[1]!;
    for (let i = 0, p = 0; i < rows; i++) {
      let s = 0;
      for (const end = p + m; p < end; p++) s += x[p]!;
      out[i] = s;
    }
    return;
  }
  if (r === 2) {
    // leading axes reduced: accumulate rows
    const rows = dims[0]!, m = dims[1]!;
    for (let i = 0, p = 0; i < rows; i++) for (let j = 0; j < m; j++, p++) out[j]! += x[p]!;
    return;
  }
  // General: walk x in order; the out stride is 0 on reduced axes, row-major over kept ones.
  const os = new Array<number>(r);
  for (let i = r - 1, acc = 1; i >= 0; i--) {
    os[i] = red[i] ? 0 : acc;
    if (!red[i]) acc *= dims[i]!;
  }
  const len = dims[r - 1]!;
  const innerReduced = red[r - 1]!;
  const idx = new Array<number>(r - 1).fill(0);
  let o = 0;
  for (let p = 0; p < n; ) {
    if (innerReduced) {
      let s = 0;
      for (const end = p + len; p < end; p++) s += x[p]!;
      out[o]! += s;
    } else {
      for (let j = 0; j < len; j++, p++) out[o + j]! += x[p]!;
    }
    for (let ax = r - 2; ax >= 0; ax--) {
      o += os[ax]!;
      if (++idx[ax]! < dims[ax]!) break;
      o -= os[ax]! * dims[ax]!;
      idx[ax] = 0;
    }
  }
}

/**
 * dst[dOff + Σ i_k·ds_k] = src[sOff + Σ i_k·ss_k] over the index box `dims`: the strided copy
 * behind broadcast (ss = 0 on broadcast axes), slice and pad.
 */
function copyStrided(
  src: Float64Array, sOff: number, ss: readonly number[],
  dst: Float64Array, dOff: number, ds: readonly number[], dimsIn: readonly number[],
): void {
  const n = sizeOf(dimsIn);
  if (n === 0) return;
  const { dims, strides } = coalesce(dimsIn, [ss, ds]);
  const s = strides[0]!, d = strides[1]!;
  const r = dims.length;
  if (r === 0) {
    dst[dOff] = src[sOff]!;
    return;
  }
  const len = dims[r - 1]!;
  const ls = s[r - 1]!, ld = d[r - 1]!;
  const idx = new Array<number>(r - 1).fill(0);
  let ps = sOff, pd = dOff;
  for (let row = 0, rows = n / len; row < rows; row++) {
    if (ls === 1 && ld === 1) {
      for (let j = 0; j < len; j++) dst[pd + j] = src[ps + j]!;
    } else if (ls === 0 && ld === 1) {
      dst.fill(src[ps]!, pd, pd + len);
    } else {
      for (let j = 0, q = ps, t = pd; j < len; j++, q += ls, t += ld) dst[t] = src[q]!;
    }
    for (let ax = r - 2; ax >= 0; ax--) {
      ps += s[ax]!;
      pd += d[ax]!;
      if (++idx[ax]! < dims[ax]!) break;
      ps -= s[ax]! * dims[ax]!;
      pd -= d[ax]! * dims[ax]!;
      idx[ax] = 0;
    }
  }
}

function broadcast(x: Float64Array, xShape: readonly number[], out: Float64Array, outShape: readonly number[]): void {
  const n = sizeOf(outShape);
  if (n === 0) return;
  const nx = sizeOf(xShape);
  if (nx === 1) {
    out.fill(x[0]!);
    return;
  }
  if (isSuffixOf(xShape, outShape)) {
    // x repeats: write it once, then double the written prefix with native copies
    for (let i = 0; i < nx; i++) out[i] = x[i]!;
    for (let done = nx; done < n; done *= 2) out.copyWithin(done, 0, Math.min(done, n - done));
    return;
  }
  copyStrided(x, 0, broadcastStrides(xShape, outShape), out, 0, stridesOf(outShape), outShape);
}

/** Square tile edge of the blocked 2-D transpose: 2·32² doubles = 16 KiB fit in L1. */
const TRANSPOSE_TILE = 32;

function transpose(x: Float64Array, xShape: readonly number[], perm: readonly number[], out: Float64Array): void {
  const outShape = perm.map((p) => xShape[p]!);
  const n = sizeOf(outShape);
  if (n === 0) return;
  const xs = stridesOf(xShape);
  const { dims, strides } = coalesce(outShape, [perm.map((p) => xs[p]!)]);
  const s = strides[0]!;
  const r = dims.length;
  if (r <= 1) {
    // after coalescing an identity permutation is one contiguous run
    for (let i = 0; i < n; i++) out[i] = x[i]!;
    return;
  }
  if (s[r - 1] === 1) {
    // the innermost axis is contiguous in x: a strided copy of rows
    copyStrided(x, 0, s, out, 0, stridesOf(dims), dims);
    return;
  }
  // Blocked: the last two out axes (p×q, x strides sp, sq) in T×T tiles, so both the reads
  // and the writes of a tile stay within a few cache lines; outer axes by odometer.
  const p = dims[r - 2]!, q = dims[r - 1]!;
  const sp = s[r - 2]!, sq = s[r - 1]!;
  const T = TRANSPOSE_TILE;
  const idx = new Array<number>(r - 2).fill(0);
  let px = 0;
  for (let o = 0; o < n; o += p * q) {
    for (let i0 = 0; i0 < p; i0 += T) {
      const i1 = Math.min(p, i0 + T);
      for (let j0 = 0; j0 < q; j0 += T) {
        const j1 = Math.min(q, j0 + T);
        for (let i = i0; i < i1; i++) {
          const ox = o + i * q;
          const xi = px + i * sp;
          for (let j = j0; j < j1; j++) out[ox + j] = x[xi + j * sq]!;
        }
      }
    }
    for (let ax = r - 3; ax >= 0; ax--) {
      px += s[ax]!;
      if (++idx[ax]! < dims[ax]!) break;
      px -= s[ax]! * dims[ax]!;
      idx[ax] = 0;
    }
  }
}

function slice(x: Float64Array, xShape: readonly number[], starts: readonly number[], ends: readonly number[], out: Float64Array): void {
  const xs = stridesOf(xShape);
  const dims = starts.map((s, i) => ends[i]! - s);
  let off = 0;
  for (let i = 0; i < xShape.length; i++) off += starts[i]! * xs[i]!;
  copyStrided(x, off, xs, out, 0, stridesOf(dims), dims);
}

function pad(x: Float64Array, xShape: readonly number[], before: readonly number[], out: Float64Array, outShape: readonly number[]): void {
  out.fill(0);
  const os = stridesOf(outShape);
  let off = 0;
  for (let i = 0; i < outShape.length; i++) off += before[i]! * os[i]!;
  copyStrided(x, 0, stridesOf(xShape), out, off, os, xShape);
}

function concat(xs: readonly Float64Array[], shapes: readonly (readonly number[])[], axis: number, out: Float64Array): void {
  // Every input is `outer` rows of its own length inner_i = Π shape_i[axis:]; an output row is
  // the inputs' rows side by side.
  const first = shapes[0]!;
  const outer = sizeOf(first.slice(0, axis));
  const inner = shapes.map((s) => sizeOf(s.slice(axis)));
  let rowLen = 0;
  for (const len of inner) rowLen += len;
  for (let t = 0, col = 0; t < xs.length; col += inner[t]!, t++) {
    const x = xs[t]!;
    const len = inner[t]!;
    if (outer === 1) {
      out.set(x.length === len ? x : x.subarray(0, len), col);
      continue;
    }
    if (len >= 32) {
      // long rows: a memcpy each (6.5 → 0.4 ms for W2's [64, 1024] ‖ [64, 8192] Jacobian rows)
      for (let r = 0, ps = 0, pd = col; r < outer; r++, ps += len, pd += rowLen) out.set(x.subarray(ps, ps + len), pd);
      continue;
    }
    for (let r = 0, ps = 0, pd = col; r < outer; r++, ps += len, pd += rowLen) {
      for (let j = 0; j < len; j++) out[pd + j] = x[ps + j]!;
    }
  }
}

/**
 * The reference backend: plain TypeScript kernels over Float64Array (see `Backend` for each
 * kernel's contract).
 *
 * @example
 * const c = new Float64Array(4);
 * jsBackend.matmul(Float64Array.of(1, 2, 3, 4), [2, 2], Float64Array.of(5, 6, 7, 8), [2, 2], c, [2, 2]);
 * // c = [19, 22, 43, 50]
 */
/**
 * A linear combination of vectors, the terms added left to right, each product rounded first:
 *
 *   out[i] = ((x[i] + w_0·v_0[i]) + w_1·v_1[i]) + … + w_{T−1}·v_{T−1}[i]     (i < n)
 *
 * and without x (null) the chain starts at w_0·v_0[i]. The reference of `Backend.combine`: a
 * backend's own version gives these values bit for bit. Written as passes of up to four terms
 * (the sum carried in `out` between passes, so the order, and every bit, is that of one loop):
 * straight-line loops instead of an inner loop over the terms, several times faster in V8.
 * `out` may be x, not one of the v_t (a pass writes out before the next reads its terms).
 * @example combine(out, y, Float64Array.of(h, 1), [F, qc], n) // out = (y + h·F) + qc
 */
export function combine(out: Float64Array, x: Float64Array | null, w: ArrayLike<number>, v: readonly Float64Array[], n: number): void {
  let src = x, i = 0;
  if (src === null) {
    if (w.length === 0) throw new RangeError('combine: no terms and no x');
    const w0 = w[0]!, v0 = v[0]!;
    for (let q = 0; q < n; q++) out[q] = w0 * v0[q]!;
    src = out;
    i = 1;
  }
  for (; i < w.length; i += 4, src = out) {
    const c = Math.min(4, w.length - i);
    const w0 = w[i]!, v0 = v[i]!;
    if (c === 1) {
      for (let q = 0; q < n; q++) out[q] = src[q]! + w0 * v0[q]!;
      continue;
    }
    const w1 = w[i + 1]!, v1 = v[i + 1]!;
    if (c === 2) {
      for (let q = 0; q < n; q++) out[q] = (src[q]! + w0 * v0[q]!) + w1 * v1[q]!;
      continue;
    }
    const w2 = w[i + 2]!, v2 = v[i + 2]!;
    if (c === 3) {
      for (let q = 0; q < n; q++) out[q] = ((src[q]! + w0 * v0[q]!) + w1 * v1[q]!) + w2 * v2[q]!;
      continue;
    }
    const w3 = w[i + 3]!, v3 = v[i + 3]!;
    for (let q = 0; q < n; q++) out[q] = (((src[q]! + w0 * v0[q]!) + w1 * v1[q]!) + w2 * v2[q]!) + w3 * v3[q]!;
  }
  if (src !== out) out.set(src.subarray(0, n));
}

export const jsBackend: Backend = {
  name: 'js',
  unary,
  binary,
  matmul: matmulWith(gemm),
  gemm,
  syrk: syrkWith(gemm),
  sum,
  broadcast,
  transpose,
  slice,
  pad,
  concat,
  combine,
};
