/**
 * Every kernel of every available backend against a naive implementation written here with
 * explicit index loops, on deterministic random shapes and data. The wasm backend runs twice:
 * with every call forced through the wasm kernels (size thresholds 0), and with its default
 * thresholds (small calls delegated to the JS kernels); the native addon's dgemm (when built)
 * also runs for every size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BinaryOp, UnaryOp } from '../../src/ir/ops.ts';
import type { Backend } from '../../src/runtime/backend.ts';
import { wasmLimits } from '../../src/runtime/backend-wasm.ts';
import { availableBackends, backendByName } from '../../src/runtime/backends.ts';
import { nativeAddon } from '../../src/runtime/backend-native.ts';
import { erfReference } from '../math/bigref.ts';
import { jsBackend, matmulWith } from '../../src/runtime/kernels-js.ts';
import { ulpDistance } from '../helpers.ts';

// ---------------------------------------------------------------------------------------------
// Helpers

/** A tiny deterministic generator (LCG, 32-bit state); uniform in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

function randomArray(rand: () => number, n: number, lo = -1, hi = 1): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rand();
  return a;
}

function randomShape(rand: () => number, rank: number, maxDim = 4): number[] {
  return Array.from({ length: rank }, () => 1 + Math.floor(rand() * maxDim));
}

/** Multi-index of flat index i in a row-major shape. */
function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let ax = shape.length - 1; ax >= 0; ax--) {
    idx[ax] = i % shape[ax]!;
    i = Math.floor(i / shape[ax]!);
  }
  return idx;
}

function ravel(idx: readonly number[], shape: readonly number[]): number {
  let f = 0;
  for (let ax = 0; ax < shape.length; ax++) f = f * shape[ax]! + idx[ax]!;
  return f;
}

/** Flat index into an operand of `shape` broadcast to an output with multi-index `outIdx`. */
function broadcastIndex(outIdx: readonly number[], shape: readonly number[]): number {
  const lead = outIdx.length - shape.length;
  let f = 0;
  for (let ax = 0; ax < shape.length; ax++) f = f * shape[ax]! + (shape[ax] === 1 ? 0 : outIdx[lead + ax]!);
  return f;
}

function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    return da === 1 ? db : da;
  });
}

/** An operand shape that broadcasts to `out`: a random suffix of it with some axes set to 1. */
function broadcastableTo(rand: () => number, out: readonly number[]): number[] {
  const keep = Math.floor(rand() * (out.length + 1));
  return out.slice(out.length - keep).map((d) => (rand() < 0.35 ? 1 : d));
}

/** Expects equal arrays, NaN = NaN, to within a relative tolerance (0: bitwise equal values). */
function expectClose(got: Float64Array, want: ArrayLike<number>, tol = 0, what = ''): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (g === w) continue;
    const err = Math.abs(g - w) / Math.max(1, Math.abs(w));
    if (!(err <= tol)) expect.fail(`${what}: element ${i}: got ${g}, want ${w} (error ${err})`);
  }
}

const BINARY: Record<BinaryOp, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
  pow: (x, y) => Math.pow(x, y),
};

const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  // the arbitrary-precision reference, not the erf the kernel calls
  erf: (x) => erfReference(x)[0],
  softplus: (x) => Math.log(1 + Math.exp(x)),
  atan: Math.atan,
  sign: Math.sign,
};

function naiveBinary(op: BinaryOp, a: Float64Array, as: number[], b: Float64Array, bs: number[], outShape: number[]): Float64Array {
  const out = new Float64Array(size(outShape));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, outShape);
    out[i] = BINARY[op](a[broadcastIndex(idx, as)]!, b[broadcastIndex(idx, bs)]!);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

/** The backends under test: [label, backend, size thresholds to force (null: defaults)]. */
const CASES: [string, Backend, typeof wasmLimits | null][] = [];
for (const name of availableBackends()) {
  const b = backendByName(name)!;
  if (name === 'wasm') {
    CASES.push(['wasm, every size through wasm', b, { gemm: 0, gemv: 0, unary: 0, fused: 0, binary: 0, binaryMax: Infinity, chunk: 1 << 15 }]);
    CASES.push(['wasm, every size through wasm in chunks of 6', b, { gemm: 0, gemv: 0, unary: 0, fused: 0, binary: 0, binaryMax: Infinity, chunk: 6 }]);
    CASES.push(['wasm, default thresholds', b, null]);
  } else CASES.push([name, b, null]);
}
// When the native addon is built: its dgemm called for every size too (the native backend sends
// tiny products to the JS gemm, which would leave BLAS's small-size and gemv paths untested).
const addon = nativeAddon();
if (addon) {
  const be: Backend = { ...jsBackend, name: 'native addon, no JS cut-off', gemm: addon.dgemm, matmul: matmulWith(addon.dgemm) };
  CASES.push([be.name, be, null]);
}

/** Ops whose wasm kernels are polynomial approximations: ≤ 2 ulp from Math, not bitwise equal. */
const APPROX: ReadonlySet<string> = new Set(['exp', 'tanh']);

describe.each(CASES)('%s', (label, K, limits) => {
  const saved = { ...wasmLimits };
  beforeAll(() => {
    if (limits) Object.assign(wasmLimits, limits);
  });
  afterAll(() => {
    Object.assign(wasmLimits, saved);
  });
  // a backend's vectorized ops (wasm's SIMD exp and tanh, which the native backend borrows) are
  // polynomial approximations, held to 2 ulp; the others must equal Math exactly
  const approx = (op: string) => APPROX.has(op) && (K.vectorUnary?.has(op as UnaryOp) ?? false);

  describe('unary', () => {
    const rand = lcg(1);
    const x = randomArray(rand, 1000, -3, 3);
    for (const op of Object.keys(UNARY) as UnaryOp[]) {
      it(`${op} matches Math on random data`, () => {
        const input = op === 'log' ? x.map(Math.abs) : x;
        const out = new Float64Array(input.length);
        K.unary(op, input, out, input.length);
        if (approx(op)) {
          let worst = 0;
          for (let i = 0; i < input.length; i++) worst = Math.max(worst, ulpDistance(out[i]!, UNARY[op](input[i]!)));
          expect(worst, op).toBeLessThanOrEqual(2);
        } else {
          // softplus's log(1 + eˣ) is exact enough in [−3, 3]
          expectClose(out, Array.from(input, UNARY[op]), op === 'softplus' ? 1e-15 : op === 'erf' ? 1e-15 : 0, op);
        }
      });
    }

    it('writes only n elements', () => {
      const out = new Float64Array(5).fill(7);
      K.unary('exp', new Float64Array(5), out, 3);
      expect(Array.from(out)).toEqual([1, 1, 1, 7, 7]);
    });

    it('softplus is finite and accurate for large |x|', () => {
      const xs = Float64Array.of(800, -800, 40, -40, 1, -1, 0, 1e-20, Infinity, -Infinity, NaN, 709.9, -745);
      const out = new Float64Array(xs.length);
      K.unary('softplus', xs, out, xs.length);
      expect(out[0]).toBe(800);
      expect(out[1]).toBe(0); // e^−800 underflows: the exact value rounds to 0
      expect(out[2]).toBe(40); // 40 + 4e-18 rounds to 40
      expect(Math.abs(out[3]! - 4.248354255291589e-18) / 4.248354255291589e-18).toBeLessThan(1e-15);
      expect(out[4]).toBeCloseTo(1.3132616875182228, 15);
      expect(out[5]).toBeCloseTo(0.31326168751822286, 15);
      expect(out[6]).toBe(Math.LN2);
      expect(out[7]).toBe(Math.LN2);
      expect(out[8]).toBe(Infinity);
      expect(out[9]).toBe(0);
      expect(out[10]).toBeNaN();
      expect(out[11]).toBe(709.9);
      expect(out[12]).toBe(5e-324);
    });

    it('sign is −1, ±0, +1 and NaN for NaN', () => {
      const xs = Float64Array.of(-2.5, -0, 0, 3, NaN, -Infinity, 1e-320);
      const out = new Float64Array(xs.length);
      K.unary('sign', xs, out, xs.length);
      expect(Array.from(out)).toEqual([-1, -0, 0, 1, NaN, -1, 1]);
      expect(Object.is(out[1], -0)).toBe(true);
    });

    it('erf matches the arbitrary-precision reference within 2 ulp, tails and zero included', () => {
      const xs = Float64Array.of(-7, -2, -0.5, -1e-300, 0, 1e-8, 0.5, 2, 5.9, 7);
      const out = new Float64Array(xs.length);
      K.unary('erf', xs, out, xs.length);
      xs.forEach((x, i) => expect(ulpDistance(out[i]!, erfReference(x)[0]), `erf(${x})`).toBeLessThanOrEqual(2));
    });

    it('may work in place (same result as out of place)', () => {
      const x = randomArray(lcg(2), 101);
      for (const op of ['sin', 'exp', 'tanh'] as const) {
        const y = x.slice();
        const want = new Float64Array(y.length);
        K.unary(op, y, want, y.length);
        K.unary(op, y, y, y.length);
        expectClose(y, want, 0, op);
      }
    });
  });

  describe('binary', () => {
    const ops = Object.keys(BINARY) as BinaryOp[];

    it('matches the naive broadcast on random shapes of rank 0–4, either side broadcast', () => {
      const rand = lcg(3);
      let cases = 0;
      for (let t = 0; t < 400; t++) {
        const outShape = randomShape(rand, Math.floor(rand() * 5));
        const aShape = rand() < 0.5 ? outShape.slice() : broadcastableTo(rand, outShape);
        const bShape = rand() < 0.3 ? outShape.slice() : broadcastableTo(rand, outShape);
        const full = broadcastShape(aShape, bShape);
        const a = randomArray(rand, size(aShape), 0.1, 2);
        const b = randomArray(rand, size(bShape), -2, 2);
        for (const op of ops) {
          const out = new Float64Array(size(full));
          K.binary(op, a, aShape, b, bShape, out, full);
          expectClose(out, naiveBinary(op, a, aShape, b, bShape, full), 0, `${op} [${aShape}] [${bShape}]`);
          cases++;
        }
      }
      expect(cases).toBe(2000);
    });

    it('covers each fast path and the general case explicitly', () => {
      const rand = lcg(4);
      const pairs: [number[], number[]][] = [
        [[3, 4], [3, 4]], // same
        [[3, 4], []], // scalar b
        [[1], [2, 3]], // scalar a
        [[2, 3, 4], [4]], // b suffix
        [[1, 3, 4], [2, 3, 4]], // a suffix
        [[2, 3, 4], [1, 3, 4]], // b suffix with a leading 1
        [[5, 1], [1, 6]], // outer product: general
        [[5, 1], [5, 6]], // a row-broadcast: general
        [[2, 3, 4], [2, 1, 4]], // middle axis: general
        [[2, 1, 3, 1], [1, 4, 1, 5]], // rank 4 both ways
        [[3, 4], [3, 1]],
        [[], []],
      ];
      for (const [as, bs] of pairs) {
        const full = broadcastShape(as, bs);
        const a = randomArray(rand, size(as), 0.5, 2);
        const b = randomArray(rand, size(bs), 0.5, 2);
        for (const op of ops) {
          const out = new Float64Array(size(full));
          K.binary(op, a, as, b, bs, out, full);
          expectClose(out, naiveBinary(op, a, as, b, bs, full), 0, `${op} [${as}] [${bs}]`);
        }
      }
    });

    it('pow with a scalar exponent (fast paths 2, 0.5, 1, −1, 3 and the general one)', () => {
      const rand = lcg(5);
      const a = randomArray(rand, 50, 0.01, 5);
      for (const e of [2, 0.5, 1, -1, 3, 1.7, 0, -2.5]) {
        const out = new Float64Array(50);
        K.binary('pow', a, [5, 10], Float64Array.of(e), [], out, [5, 10]);
        expectClose(out, a.map((v) => Math.pow(v, e)), 4e-16, `pow ${e}`);
        K.binary('pow', a, [5, 10], Float64Array.of(e), [1, 1], out, [5, 10]);
        expectClose(out, a.map((v) => Math.pow(v, e)), 4e-16, `pow ${e} (shape [1, 1])`);
      }
      const neg = Float64Array.of(-2, -0.5, 0, 3);
      const out = new Float64Array(4);
      K.binary('pow', neg, [4], Float64Array.of(2), [], out, [4]);
      expect(Array.from(out)).toEqual([4, 0.25, 0, 9]);
      K.binary('pow', neg, [4], Float64Array.of(3), [], out, [4]);
      expect(Array.from(out)).toEqual([-8, -0.125, 0, 27]);
      K.binary('pow', neg, [4], Float64Array.of(-1), [], out, [4]);
      expect(Array.from(out)).toEqual([-0.5, -2, Infinity, 1 / 3]);
      K.binary('pow', neg, [4], Float64Array.of(0.5), [], out, [4]);
      expect(Array.from(out)).toEqual([NaN, NaN, 0, Math.sqrt(3)]);
    });

    it('out may alias an operand of the output shape', () => {
      const rand = lcg(6);
      const pairs: [number[], number[]][] = [
        [[3, 4], [3, 4]],
        [[3, 4], []],
        [[3, 4], [4]],
        [[3, 4], [3, 1]],
        [[2, 3, 4], [2, 1, 4]],
      ];
      for (const [as, bs] of pairs) {
        for (const op of ops) {
          // out = a
          const a = randomArray(rand, size(as), 0.5, 2);
          const b = randomArray(rand, size(bs), 0.5, 2);
          const want = naiveBinary(op, a, as, b, bs, as);
          K.binary(op, a, as, b, bs, a, as);
          expectClose(a, want, 0, `${op} out=a [${as}] [${bs}]`);
          // out = b (b has the output shape, a is broadcast)
          const a2 = randomArray(rand, size(bs), 0.5, 2);
          const b2 = randomArray(rand, size(as), 0.5, 2);
          const want2 = naiveBinary(op, a2, bs, b2, as, as);
          K.binary(op, a2, bs, b2, as, b2, as);
          expectClose(b2, want2, 0, `${op} out=b [${bs}] [${as}]`);
        }
      }
      // a, b and out all the same array
      const x = Float64Array.of(1, 2, 3);
      K.binary('mul', x, [3], x, [3], x, [3]);
      expect(Array.from(x)).toEqual([1, 4, 9]);
    });
  });

  // ---------------------------------------------------------------------------------------------
  // gemm and matmul

  interface GemmCase {
    transA: boolean;
    transB: boolean;
    M: number;
    N: number;
    K: number;
    alpha: number;
    beta: number;
    /** extra columns beyond each matrix's row length, and leading offsets */
    padA: number;
    padB: number;
    padC: number;
    aOff: number;
    bOff: number;
    cOff: number;
  }

  /** Runs one gemm case and the naive triple loop on the same data; checks guards around C. */
  function checkGemm(rand: () => number, c: GemmCase): void {
    const { transA, transB, M, N, K: k, alpha, beta } = c;
    // stored shapes: A is M×K (K×M if transposed), B is K×N (N×K if transposed)
    const aRows = transA ? k : M, aCols = transA ? M : k;
    const bRows = transB ? N : k, bCols = transB ? k : N;
    const lda = aCols + c.padA, ldb = bCols + c.padB, ldc = N + c.padC;
    const A = randomArray(rand, c.aOff + aRows * lda + 3);
    const B = randomArray(rand, c.bOff + bRows * ldb + 3);
    const C = randomArray(rand, c.cOff + M * ldc + 3);
    if (beta === 0) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) C[c.cOff + i * ldc + j] = NaN;
    const want = C.slice();
    const opA = (i: number, p: number) => (transA ? A[c.aOff + p * lda + i]! : A[c.aOff + i * lda + p]!);
    const opB = (p: number, j: number) => (transB ? B[c.bOff + j * ldb + p]! : B[c.bOff + p * ldb + j]!);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += opA(i, p) * opB(p, j);
        const at = c.cOff + i * ldc + j;
        want[at] = alpha * s + (beta === 0 ? 0 : beta * want[at]!);
      }
    }
    K.gemm(transA, transB, M, N, k, alpha, A, c.aOff, lda, B, c.bOff, ldb, beta, C, c.cOff, ldc);
    // padding columns and the guards past the end are compared too: they must be untouched
    expectClose(C, want, 1e-13, JSON.stringify(c));
  }

  describe('gemm', () => {
    const combos: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];

    it('all transpose combinations × odd sizes 1, 3, 17, 65, 130', () => {
      const rand = lcg(7);
      const sizes = [1, 3, 17, 65, 130];
      let n = 0;
      for (const [transA, transB] of combos) {
        for (const M of sizes) for (const N of sizes) for (const k of sizes) {
          if (M * N * k > 65 * 65 * 130) continue; // keeps the naive reference quick
          checkGemm(rand, { transA, transB, M, N, K: k, alpha: 1, beta: 0, padA: 0, padB: 0, padC: 0, aOff: 0, bOff: 0, cOff: 0 });
          n++;
        }
      }
      expect(n).toBeGreaterThan(400);
    });

    it('leading dimensions larger than the rows, offsets, alpha and beta 0 / 1 / 0.5', () => {
      const rand = lcg(8);
      for (const [transA, transB] of combos) {
        for (const beta of [0, 1, 0.5]) {
          for (const [M, N, k] of [[17, 65, 3], [65, 17, 130], [3, 130, 17], [1, 17, 65], [17, 1, 65], [1, 1, 17], [2, 2, 2], [130, 66, 65]]) {
            checkGemm(rand, {
              transA, transB, M: M!, N: N!, K: k!, alpha: -0.7, beta,
              padA: 1 + Math.floor(rand() * 5), padB: Math.floor(rand() * 5), padC: 1 + Math.floor(rand() * 3),
              aOff: Math.floor(rand() * 7), bOff: Math.floor(rand() * 7), cOff: Math.floor(rand() * 7),
            });
          }
        }
      }
    });

    it('several K slabs and column panels (K > 256, N > 1024, M > 64)', () => {
      const rand = lcg(9);
      for (const [transA, transB] of combos) {
        checkGemm(rand, { transA, transB, M: 70, N: 9, K: 600, alpha: 1.5, beta: 0.5, padA: 2, padB: 1, padC: 1, aOff: 3, bOff: 1, cOff: 2 });
        checkGemm(rand, { transA, transB, M: 5, N: 1100, K: 7, alpha: 1, beta: 0, padA: 0, padB: 3, padC: 0, aOff: 0, bOff: 2, cOff: 1 });
      }
    });

    // (the native addon reads the large operand once when the other has at most 4 rows or
    // columns and the large one ≥ 2^16 elements: a path of its own, checked across its cases)
    it('2–4 rows or columns against a large operand: all transposes, odd K tails, strides, beta 0 / 1 / 0.5', () => {
      const rand = lcg(10);
      for (const [transA, transB] of combos) {
        for (const beta of [0, 1, 0.5]) {
          for (const [M, N, k] of [[2, 1100, 65], [3, 4100, 17], [4, 700, 130], [2, 16400, 4], [1100, 2, 65], [4100, 3, 17], [700, 4, 130]]) {
            checkGemm(rand, {
              transA, transB, M: M!, N: N!, K: k!, alpha: -0.7, beta,
              padA: Math.floor(rand() * 3), padB: Math.floor(rand() * 3), padC: Math.floor(rand() * 3),
              aOff: Math.floor(rand() * 5), bOff: Math.floor(rand() * 5), cOff: Math.floor(rand() * 5),
            });
          }
        }
      }
    });

    it('K = 0 or alpha = 0 scales C by beta (beta = 0 clears it, NaN included)', () => {
      const C = Float64Array.of(NaN, 2, 3, 4);
      K.gemm(false, false, 2, 2, 0, 1, new Float64Array(0), 0, 0, new Float64Array(0), 0, 2, 0, C, 0, 2);
      expect(Array.from(C)).toEqual([0, 0, 0, 0]);
      const D = Float64Array.of(1, 2, 3, 4);
      K.gemm(false, false, 2, 2, 2, 0, Float64Array.of(NaN, 1, 1, 1), 0, 2, Float64Array.of(1, 1, 1, 1), 0, 2, 0.5, D, 0, 2);
      expect(Array.from(D)).toEqual([0.5, 1, 1.5, 2]);
    });
  });

  /** numpy matmul, naively: batch axes broadcast, every product an explicit triple loop. */
  function naiveMatmul(a: Float64Array, as: number[], b: Float64Array, bs: number[]): { out: Float64Array; shape: number[] } {
    const M = as[as.length - 2]!, k = as[as.length - 1]!, N = bs[bs.length - 1]!;
    const aBatch = as.slice(0, -2), bBatch = bs.slice(0, -2);
    const batch = broadcastShape(aBatch, bBatch);
    const shape = [...batch, M, N];
    const out = new Float64Array(size(shape));
    for (let t = 0; t < size(batch); t++) {
      const idx = unravel(t, batch);
      const ia = broadcastIndex(idx, aBatch) * M * k;
      const ib = broadcastIndex(idx, bBatch) * k * N;
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a[ia + i * k + p]! * b[ib + p * N + j]!;
          out[t * M * N + i * N + j] = s;
        }
      }
    }
    return { out, shape };
  }

  describe('matmul', () => {
    it('batched with batch broadcasting both ways', () => {
      const rand = lcg(10);
      const cases: [number[], number[]][] = [
        [[4, 5], [5, 6]],
        [[2, 3, 4, 5], [5, 6]], // b shared: one folded gemm
        [[2, 3, 4, 5], [1, 5, 6]],
        [[4, 5], [3, 5, 6]], // a shared
        [[4, 5], [2, 3, 5, 1]], // a shared, N = 1: one transposed gemm
        [[1, 4, 5], [3, 5, 1]],
        [[3, 1, 4, 5], [2, 5, 6]], // both broadcast
        [[2, 1, 4, 5], [1, 3, 5, 7]],
        [[2, 3, 4, 5], [2, 3, 5, 6]], // no broadcasting
        [[2, 3, 1, 5], [3, 5, 1]], // M = N = 1
        [[3, 1, 4], [3, 4, 1]],
        [[2, 17, 65], [2, 65, 3]],
        [[2, 0, 3], [2, 3, 4]], // empty
        [[2, 3, 0], [2, 0, 4]], // K = 0: zeros
        [[3, 1, 1, 5], [1, 4, 5, 6]], // M = 1, b shared along a's axis: folded into rows
        [[4, 1, 3, 1, 5], [4, 6, 1, 5, 2]], // M = 1, mixed sharing: one axis folded, others looped
        [[2, 1, 4, 5], [1, 3, 5, 1]], // N = 1, a shared along b's axis: Cᵀ = Bᵀ·Aᵀ
        [[1, 3, 1, 4, 5], [2, 1, 6, 5, 1]], // N = 1, mixed
        [[5, 1, 1, 7], [5, 3, 7, 1]], // M = N = 1
        [[3, 1, 1, 4, 1, 7], [1, 2, 5, 1, 7, 1]], // M = N = 1, all pairs: one gemm and a gather
        [[6, 1, 1, 9], [5, 9, 1]], // M = N = 1, all pairs in the output's own order: the gemm writes it
        [[1, 6, 1, 9], [5, 1, 9, 1]], // … and with b's axis first: a gather
        // M = N = 1, pairs within a shared axis (≥ 1024 products, K ≥ 16): one gemm per shared index
        [[4, 1, 8, 8, 1, 16], [4, 6, 1, 1, 16, 1]],
        [[8, 1, 12, 1, 16], [1, 11, 12, 16, 1]], // shared axis inside, a-only and b-only outside
        [[3, 4, 1, 9, 1, 17], [3, 1, 10, 9, 17, 1]], // two shared axes
        [[1, 7], [4, 7, 1]], // a shared, N = 1
        [[4, 1, 7], [7, 1]], // b shared, M = N = 1
      ];
      for (const [as, bs] of cases) {
        const a = randomArray(rand, size(as));
        const b = randomArray(rand, size(bs));
        const { out: want, shape } = naiveMatmul(a, as, b, bs);
        const out = new Float64Array(size(shape)).fill(NaN);
        K.matmul(a, as, b, bs, out, shape);
        expectClose(out, want, 1e-14, `[${as}] @ [${bs}]`);
      }
    });

    it('random batch shapes', () => {
      const rand = lcg(11);
      for (let t = 0; t < 60; t++) {
        const batch = randomShape(rand, Math.floor(rand() * 3), 3);
        const [M, k, N] = randomShape(rand, 3, 6) as [number, number, number];
        const as = [...broadcastableTo(rand, batch), M, k];
        const bs = [...broadcastableTo(rand, batch), k, N];
        const a = randomArray(rand, size(as));
        const b = randomArray(rand, size(bs));
        const { out: want, shape } = naiveMatmul(a, as, b, bs);
        const out = new Float64Array(size(shape));
        K.matmul(a, as, b, bs, out, shape);
        expectClose(out, want, 1e-14, `[${as}] @ [${bs}]`);
      }
    });
  });

  // ---------------------------------------------------------------------------------------------
  // Structural ops

  describe('sum', () => {
    function naiveSum(x: Float64Array, xs: number[], axes: number[]): Float64Array {
      const outShape = xs.filter((_, i) => !axes.includes(i));
      const out = new Float64Array(size(outShape));
      for (let i = 0; i < x.length; i++) {
        const idx = unravel(i, xs).filter((_, ax) => !axes.includes(ax));
        out[ravel(idx, outShape)]! += x[i]!;
      }
      return out;
    }

    it('matches the naive reduction for every subset of axes of random shapes', () => {
      const rand = lcg(12);
      let n = 0;
      for (let t = 0; t < 60; t++) {
        const xs = randomShape(rand, Math.floor(rand() * 5), 5);
        const x = randomArray(rand, size(xs));
        for (let mask = 0; mask < 1 << xs.length; mask++) {
          const axes = xs.map((_, i) => i).filter((i) => mask & (1 << i));
          const want = naiveSum(x, xs, axes);
          const out = new Float64Array(want.length).fill(NaN);
          K.sum(x, xs, axes, out);
          expectClose(out, want, 1e-14, `sum [${xs}] over [${axes}]`);
          n++;
        }
      }
      expect(n).toBeGreaterThan(200);
    });

    it('fast paths: trailing axes, leading axes, middle axis, everything', () => {
      const rand = lcg(13);
      const xs = [6, 7, 8];
      const x = randomArray(rand, size(xs));
      for (const axes of [[2], [1, 2], [0], [0, 1], [1], [0, 2], [0, 1, 2], []]) {
        const want = naiveSum(x, xs, axes);
        const out = new Float64Array(want.length);
        K.sum(x, xs, axes, out);
        expectClose(out, want, 1e-14, `[${axes}]`);
      }
    });
  });

  describe('broadcast', () => {
    it('matches the naive broadcast', () => {
      const rand = lcg(14);
      for (let t = 0; t < 200; t++) {
        const outShape = randomShape(rand, Math.floor(rand() * 5));
        const xs = broadcastableTo(rand, outShape);
        const x = randomArray(rand, size(xs));
        const want = new Float64Array(size(outShape));
        for (let i = 0; i < want.length; i++) want[i] = x[broadcastIndex(unravel(i, outShape), xs)]!;
        const out = new Float64Array(want.length);
        K.broadcast(x, xs, out, outShape);
        expectClose(out, want, 0, `[${xs}] → [${outShape}]`);
      }
    });
  });

  describe('transpose', () => {
    function check(x: Float64Array, xs: number[], perm: number[]): void {
      const outShape = perm.map((p) => xs[p]!);
      const want = new Float64Array(x.length);
      for (let i = 0; i < want.length; i++) {
        const o = unravel(i, outShape);
        const xi = new Array<number>(xs.length);
        perm.forEach((p, j) => (xi[p] = o[j]!));
        want[i] = x[ravel(xi, xs)]!;
      }
      const out = new Float64Array(x.length);
      K.transpose(x, xs, perm, out);
      expectClose(out, want, 0, `[${xs}] perm [${perm}]`);
    }

    it('random shapes and permutations of rank 0–4', () => {
      const rand = lcg(15);
      for (let t = 0; t < 200; t++) {
        const xs = randomShape(rand, Math.floor(rand() * 5), 5);
        const perm = xs.map((_, i) => i);
        for (let i = perm.length - 1; i > 0; i--) {
          const j = Math.floor(rand() * (i + 1));
          [perm[i], perm[j]] = [perm[j]!, perm[i]!];
        }
        check(randomArray(rand, size(xs)), xs, perm);
      }
    });

    it('blocked 2-D and batched transposes larger than a tile', () => {
      const rand = lcg(16);
      check(randomArray(rand, 70 * 45), [70, 45], [1, 0]);
      check(randomArray(rand, 3 * 40 * 33), [3, 40, 33], [0, 2, 1]);
      check(randomArray(rand, 3 * 40 * 33), [3, 40, 33], [2, 1, 0]);
      check(randomArray(rand, 2 * 37 * 5 * 41), [2, 37, 5, 41], [3, 1, 2, 0]);
    });
  });

  describe('slice, pad, concat', () => {
    it('slice and pad are each other’s transpose, checked against index loops', () => {
      const rand = lcg(17);
      for (let t = 0; t < 200; t++) {
        const xs = randomShape(rand, Math.floor(rand() * 5), 5);
        const starts = xs.map((d) => Math.floor(rand() * d));
        const ends = xs.map((d, i) => starts[i]! + Math.floor(rand() * (d - starts[i]! + 1)));
        const outShape = xs.map((_, i) => ends[i]! - starts[i]!);
        const x = randomArray(rand, size(xs));
        const want = new Float64Array(size(outShape));
        for (let i = 0; i < want.length; i++) {
          want[i] = x[ravel(unravel(i, outShape).map((v, ax) => v + starts[ax]!), xs)]!;
        }
        const out = new Float64Array(want.length).fill(NaN);
        K.slice(x, xs, starts, ends, out);
        expectClose(out, want, 0, `slice [${xs}] [${starts}:${ends}]`);

        // pad the slice back to xs at `starts`: zeros elsewhere
        const padded = new Float64Array(size(xs)).fill(NaN);
        K.pad(out, outShape, starts, padded, xs);
        const wantPad = new Float64Array(size(xs));
        for (let i = 0; i < want.length; i++) {
          wantPad[ravel(unravel(i, outShape).map((v, ax) => v + starts[ax]!), xs)] = want[i]!;
        }
        expectClose(padded, wantPad, 0, `pad [${outShape}] at [${starts}] in [${xs}]`);
      }
    });

    it('concat along every axis of random shapes', () => {
      const rand = lcg(18);
      for (let t = 0; t < 100; t++) {
        const rank = 1 + Math.floor(rand() * 4);
        const base = randomShape(rand, rank);
        const axis = Math.floor(rand() * rank);
        const count = 1 + Math.floor(rand() * 3);
        const shapes = Array.from({ length: count }, () => base.map((d, i) => (i === axis ? Math.floor(rand() * 4) : d)));
        const xs = shapes.map((s) => randomArray(rand, size(s)));
        const outShape = base.slice();
        outShape[axis] = shapes.reduce((p, s) => p + s[axis]!, 0);
        const want = new Float64Array(size(outShape));
        let at = 0;
        shapes.forEach((s, k) => {
          for (let i = 0; i < xs[k]!.length; i++) {
            const idx = unravel(i, s);
            idx[axis]! += at;
            want[ravel(idx, outShape)] = xs[k]![i]!;
          }
          at += s[axis]!;
        });
        const out = new Float64Array(want.length).fill(NaN);
        K.concat(xs, shapes, axis, out);
        expectClose(out, want, 0, `concat [${shapes.map((s) => `[${s}]`)}] axis ${axis}`);
      }
    });
  });

  describe('combine', () => {
    it('equals the one-loop left-to-right sum bit for bit: 0 to 12 terms, with and without x, in place, every size', () => {
      const rand = lcg(19);
      for (const n of [0, 1, 3, 37, 255, 256, 1027]) {
        for (let terms = 0; terms <= 12; terms++) {
          for (const withX of [true, false]) {
            if (!withX && terms === 0) continue;
            // values over eleven decades, so that a different order of the sums would show
            const vec = () => Float64Array.from({ length: n }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 11 - 5));
            const x = withX ? vec() : null;
            const w = Float64Array.from({ length: terms }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 5 - 2));
            const v = Array.from({ length: terms }, vec);
            const want = new Float64Array(n);
            for (let q = 0; q < n; q++) {
              let acc = x ? x[q]! : w[0]! * v[0]![q]!;
              for (let i = x ? 0 : 1; i < terms; i++) acc += w[i]! * v[i]![q]!;
              want[q] = acc;
            }
            const out = new Float64Array(n + 1).fill(NaN);
            K.combine(out, x, w, v, n);
            const label = `n = ${n}, ${terms} terms, ${withX ? 'x' : 'no x'}`;
            expect(Array.from(out.subarray(0, n)), label).toEqual(Array.from(want));
            expect(out[n], `${label}: nothing written past n`).toBeNaN();
            // in place: out = x
            if (x) {
              K.combine(x, x, w, v, n);
              expect(Array.from(x), `${label}, out = x`).toEqual(Array.from(want));
            }
          }
        }
      }
    });
  });
});
