/**
 * The WebAssembly SIMD backend: gemm, gemv, exp / tanh and the contiguous elementwise
 * add / sub / mul / div run in hand-written f64x2 kernels (src/runtime/wasm/kernels.wat, compiled
 * to dist/kernels.wasm by scripts/build.mjs); every other kernel, and every call too small to
 * pay for the copies, is the JS backend's (small exp / tanh: the scalar twins in wasm/scalar.ts).
 *
 * Invariant: a result never depends on which path a call took. The wasm gemm and gemv sum in
 * the JS kernels' order, add/sub/mul/div are single IEEE operations, and the scalar twins
 * repeat the wasm exp/tanh arithmetic operation for operation: all bitwise equal (tested).
 *
 * Data moves by copying: operands are copied into the module's linear memory (grown on demand
 * and kept between calls), one export runs, the result is copied back. The plans' buffers are
 * ordinary Float64Arrays that cannot live in wasm memory (it would detach them on every grow),
 * so copying is what makes the backend a drop-in `Backend`. The thresholds below (in elements or
 * multiply-adds) are where the wasm path, copies included, was measured to win on this machine.
 *
 * Elementwise work (exp/tanh, add/sub/mul/div, the fused loops) streams: it is copied in, run
 * and copied back a chunk at a time (`wasmLimits.chunk` doubles of operands per chunk), so the
 * copies land in the core's cache and the arena stays small. Copying whole operands of a few MB
 * instead went to memory three times over and, on a first call, touched as many fresh pages of
 * wasm memory as the operands have (page faults cost ~3–5 µs each on this machine's VM). A
 * chunk's values are the whole call's: the loops run in the same order, one row block after
 * another (`chunkRows`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Backend } from './backend.ts';
import type { BinaryOp, UnaryOp } from '../ir/ops.ts';
import { broadcastStrides, coalesce, jsBackend, matmulWith, syrkWith } from './kernels-js.ts';
import { stridesOf } from '../ir/shape.ts';
import { expScalar, tanhScalar } from './wasm/scalar.ts';
import type { FusedKernel, FusedProgram } from './fuse.ts';
import { compileFusedWasm } from './wasm/fused.ts';

interface Kernels {
  memory: WebAssembly.Memory;
  /** Bytes below this hold the kernels' constant table; operands go above. */
  heap_base: WebAssembly.Global;
  gemm(
    transA: number, transB: number, M: number, N: number, K: number, alpha: number,
    A: number, lda: number, B: number, ldb: number, beta: number, C: number, ldc: number,
    MC: number, KC: number, NC: number, Ap: number, Bp: number, tile: number,
  ): void;
  gemv_n(m: number, K: number, alpha: number, X: number, ldx: number, v: number, beta: number, y: number): void;
  gemv_t(m: number, K: number, alpha: number, X: number, ldx: number, v: number, beta: number, y: number, t: number): void;
  exp(x: number, out: number, n: number): void;
  tanh(x: number, out: number, n: number): void;
  scale(x: number, out: number, n: number, c: number): void;
  sigmoid(x: number, out: number, n: number): void;
  add(a: number, b: number, out: number, n: number): void;
  sub(a: number, b: number, out: number, n: number): void;
  mul(a: number, b: number, out: number, n: number): void;
  div(a: number, b: number, out: number, n: number): void;
  log(x: number, out: number, n: number): void;
  normal_pairs(state: number, out: number, pairs: number, mean: number, std: number): void;
}

/** Cache blocks of the wasm gemm (see kernels.wat): A block MC×KC in L2, B micro-panel KC×4 in L1. */
const MC = 64;
const KC = 256;
const NC = 2048;

/**
 * Below these sizes the JS kernels are used: gemm and gemv in multiply-adds M·N·K, unary and
 * binary in elements (measured with the copies included; see docs/decisions.md). Mutable so
 * that tests can set them to 0 and run every case through the wasm kernels.
 */
export const wasmLimits = {
  // wasm from ≈ 12³ (12³: 2.7 vs 2.2 GFLOP/s, 8³: 1.2 vs 1.8); bitwise the JS result either way
  gemm: 1024,
  // 64×64: 3.9 vs 11 µs; also bitwise equal to the JS kernel
  gemv: 2048,
  // exp/tanh: break-even near 64–128 elements; below, the scalar twins (same bits)
  unary: 128,
  // fused elementwise loops (fuse.ts), in elements of the loop body: below, the generated JS
  // (a two-leaf loop, copies included: about even from 256 to 8k elements, 2.4–3.5× faster
  // from 16k; W2's [64, 1024] loops 2–4×)
  fused: 1024,
  // add/mul/div: 64 elements 2× slower through wasm, 1024 2× faster (IEEE ops: same bits)
  binary: 512,
  // … up to 2^20: streamed through the cache (`chunk`), 524k elements take 1.5 against 3.1
  // ns/element; at 2M both are memory-bound (3.1 and 3.0). (Copied whole, before streaming,
  // wasm stopped winning at 2^17: the three copies cost what the loop does.)
  binaryMax: 1 << 20,
  // elementwise calls stream in chunks of this many doubles of operands (256 KB, half this
  // machine's L2): the copies stay in cache (W3's 4 MB loops ran ~40% faster warm)
  chunk: 1 << 15,
};

/**
 * Calls whose operands would need more wasm memory than this (in doubles: 1 GiB) stay in JS:
 * the memory is addressed by i32 and its growth may fail long before the 4 GiB limit.
 */
const MAX_DOUBLES = 1 << 27;

/**
 * Where the compiled kernels are: `NTK_WASM` if set, else next to this module (the bundle in
 * dist/), else the repo's dist/ seen from src/runtime/ (tests run the sources).
 */
function findBinary(): Uint8Array<ArrayBuffer> | null {
  const candidates: string[] = [];
  if (process.env.NTK_WASM) candidates.push(process.env.NTK_WASM);
  for (const rel of ['./kernels.wasm', '../../dist/kernels.wasm']) {
    try {
      candidates.push(fileURLToPath(new URL(rel, import.meta.url)));
    } catch {
      // not a file: URL (e.g. bundled elsewhere): skip
    }
  }
  for (const path of candidates) if (existsSync(path)) return new Uint8Array(readFileSync(path));
  return null;
}

/** The linear memory as a bump allocator that is reset at every call. */
class Arena {
  private readonly base: number;
  private top: number;
  private view: Float64Array;
  constructor(private readonly k: Kernels) {
    this.view = new Float64Array(k.memory.buffer);
    this.base = this.top = Number(k.heap_base.value);
  }
  /** The memory as doubles (a new view after the memory grew, which detaches the old buffer). */
  get f64(): Float64Array {
    if (this.view.buffer !== this.k.memory.buffer) this.view = new Float64Array(this.k.memory.buffer);
    return this.view;
  }
  /** Starts a call: everything allocated before is free again. */
  reset(): void {
    this.top = this.base;
  }
  /** A 16-byte aligned region of n doubles (growing the memory if needed); returns its byte offset. */
  alloc(n: number): number {
    const at = this.top;
    this.top += (n * 8 + 15) & ~15;
    const have = this.k.memory.buffer.byteLength;
    if (this.top > have) this.k.memory.grow(Math.ceil((this.top - have) / 65536));
    return at;
  }
}

/**
 * A matrix of `rows` rows of `cols` values at src[off + i·ld + j] copied into wasm memory.
 * When the padding is small (ld ≤ 2·cols) the whole span is copied with one `set` and keeps its
 * row stride (so copying it back preserves the padding); otherwise the rows are packed densely.
 */
interface Placed {
  ptr: number;
  ld: number;
  span: boolean;
}

function place(arena: Arena, src: Float64Array, off: number, rows: number, cols: number, ld: number, copy: boolean): Placed {
  if (rows === 1 || ld <= 2 * cols) {
    const len = (rows - 1) * ld + cols;
    const ptr = arena.alloc(len);
    if (copy) arena.f64.set(src.subarray(off, off + len), ptr >> 3);
    return { ptr, ld, span: true };
  }
  const ptr = arena.alloc(rows * cols);
  if (copy) {
    const f = arena.f64;
    for (let i = 0, d = ptr >> 3, s = off; i < rows; i++, d += cols, s += ld) {
      for (let j = 0; j < cols; j++) f[d + j] = src[s + j]!;
    }
  }
  return { ptr, ld: cols, span: false };
}

/** Copies a placed rows×cols matrix back to dst[off + i·ld + j]. */
function unplace(arena: Arena, p: Placed, dst: Float64Array, off: number, rows: number, cols: number, ld: number): void {
  const f = arena.f64;
  if (p.span) {
    const len = (rows - 1) * ld + cols;
    dst.set(f.subarray(p.ptr >> 3, (p.ptr >> 3) + len), off);
    return;
  }
  for (let i = 0, s = p.ptr >> 3, d = off; i < rows; i++, s += cols, d += ld) {
    for (let j = 0; j < cols; j++) dst[d + j] = f[s + j]!;
  }
}

/** Copies n values src[off + i·inc] into a fresh contiguous region; returns its byte offset. */
function gather(arena: Arena, src: Float64Array, off: number, n: number, inc: number): number {
  const ptr = arena.alloc(n);
  const f = arena.f64, d = ptr >> 3;
  if (inc === 1) f.set(src.subarray(off, off + n), d);
  else for (let i = 0; i < n; i++) f[d + i] = src[off + i * inc]!;
  return ptr;
}

/**
 * How a fused loop streams: blocks of `rows` rows of its outermost axis (all of them when the
 * loop fits in `wasmLimits.chunk` doubles, or when its operands' rows are not disjoint spans).
 * Per operand (the output first), `step` is its stride along that axis (0: the operand does not
 * move along it, it is copied once) and `span` the extent of one row of it, so a block of n rows
 * starting at row r0 is the span [r0·step, r0·step + (n − 1)·step + span) of its buffer.
 */
function chunkRows(prog: Pick<FusedProgram, 'dims' | 'strides'>, sizes: readonly number[]): { rows: number; step: number[]; span: number[] } {
  const { dims, strides } = prog;
  const d0 = dims[0]!;
  const step = strides.map((s) => s[0]!);
  const span = strides.map((s) => 1 + s.reduce((e, st, ax) => (ax === 0 ? e : e + (dims[ax]! - 1) * st), 0));
  const whole = { rows: d0, step, span };
  let perRow = 0, fixed = 0;
  for (let o = 0; o < strides.length; o++) {
    if (step[o] === 0) fixed += sizes[o]!;
    else if (step[o]! < span[o]!) return whole; // rows that overlap would be copied again and again
    else perRow += step[o]!;
  }
  if (perRow === 0) return whole;
  const rows = Math.max(1, Math.floor((wasmLimits.chunk - fixed) / perRow));
  return rows >= d0 ? whole : { rows, step, span };
}

function makeBackend(k: Kernels): Backend {
  const arena = new Arena(k);
  const js = jsBackend;

  /**
   * n contiguous elements of `streams` operands, in chunks of `wasmLimits.chunk` doubles in all:
   * `each(regions, start, count)` copies a chunk in, runs a kernel and copies it out. The regions
   * are allocated once per call (`ptr` byte offsets, `at` indices into `f`, the memory's view).
   */
  const regions = { ptr: [0, 0], at: [0, 0], f: arena.f64 };
  const stream = (n: number, streams: number, each: (p: typeof regions, start: number, count: number) => void) => {
    const size = Math.min(n, Math.max(2, Math.floor(wasmLimits.chunk / streams) & ~1));
    arena.reset();
    for (let s = 0; s < streams; s++) regions.ptr[s] = arena.alloc(size);
    for (let s = 0; s < streams; s++) regions.at[s] = regions.ptr[s]! >> 3;
    regions.f = arena.f64;
    for (let at = 0; at < n; at += size) each(regions, at, Math.min(size, n - at));
  };

  /**
   * y_i ← alpha·Σ_k opX(i, k)·v_k + beta·y_i, opX(i, k) = X[xOff + i·ldx + k] (xT: X[xOff + k·ldx + i]),
   * v_k = v[vOff + k·vInc], y_i = y[yOff + i·yInc]: gemm's N = 1 and M = 1 cases.
   */
  function gemv(
    m: number, K: number, alpha: number, X: Float64Array, xOff: number, ldx: number, xT: boolean,
    v: Float64Array, vOff: number, vInc: number, beta: number, y: Float64Array, yOff: number, yInc: number,
  ): void {
    arena.reset();
    // alloc may grow (and so replace) the view: place everything first, read arena.f64 after
    const px = place(arena, X, xOff, xT ? K : m, xT ? m : K, ldx, true);
    const pv = gather(arena, v, vOff, K, vInc);
    const py = beta === 0 ? arena.alloc(m) : gather(arena, y, yOff, m, yInc);
    if (xT) k.gemv_t(m, K, alpha, px.ptr, px.ld, pv, beta, py, arena.alloc(m));
    else k.gemv_n(m, K, alpha, px.ptr, px.ld, pv, beta, py);
    const f = arena.f64, d = py >> 3;
    if (yInc === 1) y.set(f.subarray(d, d + m), yOff);
    else for (let i = 0; i < m; i++) y[yOff + i * yInc] = f[d + i]!;
  }

  const gemm: Backend['gemm'] = (transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc) => {
    if (M <= 0 || N <= 0) return;
    const madds = M * N * K;
    if (K <= 0 || alpha === 0) return js.gemm(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
    if (N === 1 || M === 1) {
      if (madds < wasmLimits.gemv || 2 * madds + 3 * (M + N + K) > MAX_DOUBLES) return js.gemm(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
      // c_i = Σ_k op(A)(i, k)·op(B)(k, 0)
      if (N === 1) return gemv(M, K, alpha, A, aOff, lda, transA, B, bOff, transB ? 1 : ldb, beta, C, cOff, ldc);
      // c_j = Σ_k op(B)(k, j)·op(A)(0, k)
      return gemv(N, K, alpha, B, bOff, ldb, !transB, A, aOff, transA ? lda : 1, beta, C, cOff, 1);
    }
    // a placed operand may keep its padding (up to twice its size, see `place`)
    const need = 2 * (M * K + K * N + M * N) + MC * KC + KC * (NC + 4);
    if (madds < wasmLimits.gemm || need > MAX_DOUBLES) return js.gemm(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
    arena.reset();
    const tile = arena.alloc(16);
    const mc = Math.min(MC, M + 3) & ~3, kc = Math.min(KC, K), nc = Math.min(NC, N);
    const Ap = arena.alloc(mc * kc);
    const Bp = arena.alloc(kc * (Math.ceil(nc / 4) * 4));
    const pa = place(arena, A, aOff, transA ? K : M, transA ? M : K, lda, true);
    const pb = place(arena, B, bOff, transB ? N : K, transB ? K : N, ldb, true);
    // C is read when beta ≠ 0, and when its padding must survive the copy back
    const pc = place(arena, C, cOff, M, N, ldc, beta !== 0 || ldc !== N);
    k.gemm(transA ? 1 : 0, transB ? 1 : 0, M, N, K, alpha, pa.ptr, pa.ld, pb.ptr, pb.ld, beta, pc.ptr, pc.ld, MC, KC, NC, Ap, Bp, tile);
    unplace(arena, pc, C, cOff, M, N, ldc);
  };

  const unary: Backend['unary'] = (op: UnaryOp, x, out, n) => {
    if (op !== 'exp' && op !== 'tanh') return js.unary(op, x, out, n);
    if (n < wasmLimits.unary || n > MAX_DOUBLES) {
      // the scalar twins: bitwise the wasm kernel's values, without the copies
      const f = op === 'exp' ? expScalar : tanhScalar;
      for (let i = 0; i < n; i++) out[i] = f(x[i]!);
      return;
    }
    stream(n, 1, (p, at, c) => {
      p.f.set(x.subarray(at, at + c), p.at[0]!);
      k[op](p.ptr[0]!, p.ptr[0]!, c);
      out.set(p.f.subarray(p.at[0]!, p.at[0]! + c), at);
    });
  };

  /**
   * A fused loop compiled to wasm SIMD (wasm/fused.ts), bitwise the JS loop's values, streamed
   * through the arena in blocks of rows of its outermost axis (`chunkRows`): per block, the
   * leaves' rows are copied in, the loop runs on them, the output's rows are copied back. A leaf
   * broadcast along that axis, and an output summed over it, are copied once. Null below
   * `wasmLimits.fused` elements, or when the program has no wasm form.
   */
  const fused = (prog: FusedProgram): FusedKernel | null => {
    const body = prog.dims.reduce((a, b) => a * b, 1);
    const total = prog.outSize + prog.leafSizes.reduce((a, b) => a + b, 0);
    if (body < wasmLimits.fused || 2 * total > MAX_DOUBLES) return null;
    const run = compileFusedWasm(prog, k.memory);
    if (!run) return null;
    const { leafSizes, outSize, sum } = prog;
    const d0 = prog.dims[0]!, nOps = leafSizes.length + 1;
    const sizes = [outSize, ...leafSizes];
    const { rows, step, span } = chunkRows(prog, sizes);
    const ptrs = new Array<number>(nOps + 1);
    return (ins, out) => {
      arena.reset();
      // the regions: a block's rows of each operand that moves along the axis, all of the others
      for (let o = 0; o < nOps; o++) ptrs[o] = arena.alloc(step[o] === 0 ? sizes[o]! : (rows - 1) * step[o]! + span[o]!);
      const f = arena.f64;
      for (let o = 1; o < nOps; o++) if (step[o] === 0) f.set(ins[o - 1]!.subarray(0, sizes[o]!), ptrs[o]! >> 3);
      if (step[0] === 0) f.fill(0, ptrs[0]! >> 3, (ptrs[0]! >> 3) + outSize); // summed over the axis
      for (let r0 = 0; r0 < d0; r0 += rows) {
        const n = Math.min(rows, d0 - r0);
        for (let o = 1; o < nOps; o++) {
          const s0 = step[o]!;
          if (s0 !== 0) f.set(ins[o - 1]!.subarray(r0 * s0, r0 * s0 + (n - 1) * s0 + span[o]!), ptrs[o]! >> 3);
        }
        const s0 = step[0]!, len = (n - 1) * s0 + span[0]!;
        if (s0 !== 0 && sum) f.fill(0, ptrs[0]! >> 3, (ptrs[0]! >> 3) + len);
        ptrs[nOps] = n;
        run(...ptrs);
        if (s0 !== 0) out.set(f.subarray(ptrs[0]! >> 3, (ptrs[0]! >> 3) + len), r0 * s0);
      }
      if (step[0] === 0) out.set(f.subarray(ptrs[0]! >> 3, (ptrs[0]! >> 3) + outSize));
    };
  };

  /**
   * A broadcasting add/sub/mul/div as a one-step fused loop (compiled once per shapes): the same
   * IEEE operation per element as the JS kernel, without its scalar loop.
   */
  const broadcastLoops = new Map<string, FusedKernel | null>();
  const broadcastBinary = (op: BinaryOp, a: Float64Array, aShape: readonly number[], b: Float64Array, bShape: readonly number[], out: Float64Array, outShape: readonly number[]): boolean => {
    const key = `${op}|${aShape.join(',')}|${bShape.join(',')}|${outShape.join(',')}`;
    let kernel = broadcastLoops.get(key);
    if (kernel === undefined) {
      const { dims, strides } = coalesce(outShape, [stridesOf(outShape), broadcastStrides(aShape, outShape), broadcastStrides(bShape, outShape)]);
      if (dims.length === 0) dims.push(1), strides.forEach((st) => st.push(0));
      const size = (s: readonly number[]) => s.reduce((x, y) => x * y, 1);
      kernel = fused({ dims, strides, leafSizes: [size(aShape), size(bShape)], outSize: size(outShape), sum: false, steps: [{ op, args: [{ leaf: 0 }, { leaf: 1 }] }], result: { step: 0 } });
      broadcastLoops.set(key, kernel);
    }
    if (!kernel) return false;
    kernel([a, b], out);
    return true;
  };

  const scaledUnary: NonNullable<Backend['scaledUnary']> = (op, c, x, out, n) => {
    if (op !== 'exp' && op !== 'tanh') {
      for (let i = 0; i < n; i++) out[i] = c * x[i]!;
      return js.unary(op, out, out, n);
    }
    if (n < wasmLimits.unary || n > MAX_DOUBLES) {
      const f = op === 'exp' ? expScalar : tanhScalar;
      for (let i = 0; i < n; i++) out[i] = f(c * x[i]!);
      return;
    }
    stream(n, 1, (p, at, m) => {
      p.f.set(x.subarray(at, at + m), p.at[0]!);
      k.scale(p.ptr[0]!, p.ptr[0]!, m, c);
      k[op](p.ptr[0]!, p.ptr[0]!, m);
      out.set(p.f.subarray(p.at[0]!, p.at[0]! + m), at);
    });
  };

  const binary: Backend['binary'] = (op: BinaryOp, a, aShape, b, bShape, out, outShape) => {
    const n = out.length;
    if (op !== 'pow' && n >= wasmLimits.fused && (!sameShape(aShape, outShape) || !sameShape(bShape, outShape)) && broadcastBinary(op, a, aShape, b, bShape, out, outShape)) return;
    if (op === 'pow' || n < wasmLimits.binary || n > wasmLimits.binaryMax || 2 * n > MAX_DOUBLES || a.length !== n || b.length !== n || !sameShape(aShape, outShape) || !sameShape(bShape, outShape)) {
      return js.binary(op, a, aShape, b, bShape, out, outShape);
    }
    stream(n, 2, (p, at, c) => {
      p.f.set(a.subarray(at, at + c), p.at[0]!);
      p.f.set(b.subarray(at, at + c), p.at[1]!);
      k[op](p.ptr[0]!, p.ptr[1]!, p.ptr[0]!, c);
      out.set(p.f.subarray(p.at[0]!, p.at[0]! + c), at);
    });
  };

  return {
    ...js,
    name: 'wasm',
    fused,
    // exp and tanh over a whole array beat the generated loops' Math.exp/Math.tanh per element
    // (6.5 and 15 ns against 16–37 ns here), so fusion leaves them to `unary`
    vectorUnary: new Set<UnaryOp>(['exp', 'tanh']),
    unary,
    scaledUnary,
    binary,
    gemm,
    // the triangle by blocks of the wasm gemm (kernels-js.ts), half of gemm(A, Aᵀ)'s work
    syrk: syrkWith(gemm),
    matmul: matmulWith(gemm),
  };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

let cached: { backend: Backend | null; kernels: Kernels | null } | null = null;

function load(): { backend: Backend | null; kernels: Kernels | null } {
  if (cached) return cached;
  cached = { backend: null, kernels: null };
  const bytes = findBinary();
  if (!bytes) return cached;
  try {
    // synchronous compile: the module is ~6 KB; throws where WASM SIMD is unsupported
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    const kernels = instance.exports as unknown as Kernels;
    cached = { backend: makeBackend(kernels), kernels };
  } catch {
    // no SIMD (or a corrupt file): the backend is simply unavailable
  }
  return cached;
}

/**
 * The WASM SIMD backend, or null (silently) when dist/kernels.wasm is missing or the engine
 * lacks WebAssembly SIMD. Loaded once.
 *
 * @example
 * const be = wasmBackend() ?? jsBackend;
 * const c = new Float64Array(4);
 * be.gemm(false, false, 2, 2, 2, 1, Float64Array.of(1, 2, 3, 4), 0, 2, Float64Array.of(5, 6, 7, 8), 0, 2, 0, c, 0, 2);
 * // c = [19, 22, 43, 50]
 */
export function wasmBackend(): Backend | null {
  return load().backend;
}

/**
 * The raw kernels out[i] = f(x[i]) for f = exp, tanh, sigmoid(x) = 1/(1 + e^−x) (vectorized) and
 * log (fdlibm's, scalar), all n elements through wasm whatever n (for tests and benchmarks; the
 * graph has no sigmoid op, it is composed). Null when the backend is unavailable.
 */
export function wasmUnary(): ((f: 'exp' | 'tanh' | 'sigmoid' | 'log', x: Float64Array, out: Float64Array) => void) | null {
  const { kernels } = load();
  if (!kernels) return null;
  const arena = new Arena(kernels);
  return (f, x, out) => {
    arena.reset();
    const p = gather(arena, x, 0, x.length, 1);
    kernels[f](p, p, x.length);
    out.set(arena.f64.subarray(p >> 3, (p >> 3) + x.length));
  };
}

/**
 * The random generator's normal draws (`normal_pairs` in kernels.wat, for src/io/rng.ts):
 * `draw(state, pairs, mean, std)` advances the xoshiro256** state, 8 u32 words (low then high
 * half of s0..s3), in place and returns 2·`pairs` values mean + std·z, z by the polar method
 * with fdlibm's logarithm, as a view into wasm memory valid until the next call. Null when the
 * kernels are unavailable (rng.ts then draws the same values in JS).
 * @example const draw = wasmNormalPairs(); if (draw) { const zs = draw(state, 1024, 0, 1); … }
 */
export function wasmNormalPairs(): ((state: Uint32Array, pairs: number, mean: number, std: number) => Float64Array) | null {
  const { kernels } = load();
  if (!kernels) return null;
  const arena = new Arena(kernels);
  return (state, pairs, mean, std) => {
    arena.reset();
    const st = arena.alloc(4);
    const out = arena.alloc(2 * pairs);
    const words = new Uint32Array(kernels.memory.buffer, st, 8);
    words.set(state);
    kernels.normal_pairs(st, out, pairs, mean, std);
    state.set(new Uint32Array(kernels.memory.buffer, st, 8));
    return arena.f64.subarray(out >> 3, (out >> 3) + 2 * pairs);
  };
}
