/** The plan compiler: buffer reuse, reshape aliasing, the cached fixed phase. */
import { describe, expect, it } from 'vitest';
import { Graph } from '../../src/ir/graph.ts';
import { compile } from '../../src/runtime/compile.ts';
import { availableBackends, backendByName } from '../../src/runtime/backends.ts';

describe('plans', () => {
  it('reuses buffers: a long chain holds two values at a time, not all of them', () => {
    const g = new Graph();
    const x = g.input('x', 'var', [1000]);
    let y = x;
    for (let i = 0; i < 50; i++) y = g.sin(g.add(y, g.constant(i)));
    const plan = compile(g, [y]);
    const [out] = plan.run(new Map([[x, new Float64Array(1000).fill(0.5)]]));
    let ref = 0.5;
    for (let i = 0; i < 50; i++) ref = Math.sin(ref + i);
    expect(out![999]).toBeCloseTo(ref, 15);
    // input + a few live intermediates + the constants (scalars), never 50 × 1000
    expect(plan.peakValues).toBeLessThan(5000);
  });

  it('reshapes alias their input (no copy, no extra buffer)', () => {
    const g = new Graph();
    const x = g.input('x', 'var', [2, 3]);
    const y = g.exp(g.reshape(g.exp(x), [3, 2]));
    const plan = compile(g, [y]);
    expect(plan.peakValues).toBeLessThanOrEqual(18);
    const [out] = plan.run(new Map([[x, Float64Array.of(0, 1, 2, 3, 4, 5)]]));
    expect(out![5]).toBeCloseTo(Math.exp(Math.exp(5)), 5);
  });

  it('computes the fixed phase once while the same fixed inputs are bound', () => {
    const g = new Graph();
    const w = g.input('w', 'param', [3]);
    const v = g.input('v', 'tangent', [3]);
    const out = g.mul(g.exp(w), v);
    const plan = compile(g, [out], { varying: [v] });
    const W = Float64Array.of(0, 1, 2);
    const bind = new Map([[w, W], [v, Float64Array.of(1, 1, 1)]]);
    expect(plan.run(bind)[0]![2]).toBeCloseTo(Math.exp(2), 15);
    bind.set(v, Float64Array.of(2, 2, 2));
    expect(plan.run(bind)[0]![2]).toBeCloseTo(2 * Math.exp(2), 15);
    // a new fixed array is noticed
    bind.set(w, Float64Array.of(0, 0, 0));
    expect(plan.run(bind)[0]![2]).toBe(2);
    expect(plan.flops.varying).toBe(3);
  });

  it('never lets an intermediate overwrite an input bound before the run', () => {
    // Regression: an input scheduled after a released intermediate of the same size used to
    // share its buffer, so the intermediate clobbered the input's value.
    const g = new Graph();
    const x = g.input('x', 'param', []);
    const v1 = g.input('v1', 'tangent', []);
    const v2 = g.input('v2', 'tangent', []);
    const y = g.mul(v2, g.mul(g.cos(x), v1));
    const [out] = compile(g, [y]).run(new Map([[x, Float64Array.of(0.7)], [v1, Float64Array.of(1)], [v2, Float64Array.of(1)]]));
    expect(out![0]).toBe(Math.cos(0.7));
  });

  it('rejects a missing or mis-sized binding', () => {
    const g = new Graph();
    const x = g.input('x', 'var', [2]);
    const plan = compile(g, [g.sin(x)]);
    expect(() => plan.run(new Map())).toThrow(/'x' \(var\) is not bound/);
    expect(() => plan.run(new Map([[x, new Float64Array(3)]]))).toThrow(/3 values, expected 2/);
  });
});

describe('matmuls with K = 1 (outer products)', () => {
  /** out[b, i, j] = a[b, i]·c[b, j], the naive outer products. */
  const outer = (a: Float64Array, c: Float64Array, B: number, M: number, N: number) => {
    const out = new Float64Array(B * M * N);
    for (let b = 0; b < B; b++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) out[(b * M + i) * N + j] = a[b * M + i]! * c[b * N + j]!;
    return out;
  };
  const data = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(seed + 1.7 * i) * (i % 5 === 0 ? 0 : 1));
  const instrCount = (plan: ReturnType<typeof compile>) => (plan as unknown as { pre: { instrs: unknown[] } }).pre.instrs.length;

  it('compute each entry as the one product (alone, and read through a transpose written in its layout)', () => {
    const [B, M, N] = [3, 5, 7];
    const g = new Graph();
    const a = g.input('a', 'var', [B, M, 1]);
    const c = g.input('c', 'var', [B, 1, N]);
    const av = data(B * M, 1), cv = data(B * N, 2);
    const ref = outer(av, cv, B, M, N);
    const bind = new Map([[a, av], [c, cv]]);
    // alone
    const [plain] = compile(g, [g.matmul(a, c)]).run(bind);
    expect(Array.from(plain!)).toEqual(Array.from(ref));
    // read through a swap of the last two axes: one instruction (the matmul is not scheduled)
    const t = g.swapLast(g.matmul(a, c));
    const folded = compile(g, [t]);
    expect(instrCount(folded)).toBe(1);
    const [got] = folded.run(bind);
    for (let b = 0; b < B; b++) for (let j = 0; j < N; j++) for (let i = 0; i < M; i++) expect(got![(b * N + j) * M + i]).toBe(ref[(b * M + i) * N + j]);
    // with a second reader the product is materialized, and the transpose reads it: same values
    const two = g.add(g.matmul(a, c), g.constant(0));
    const [viaBoth, sum] = compile(g, [g.swapLast(g.matmul(a, c)), two]).run(bind);
    expect(Array.from(viaBoth!)).toEqual(Array.from(got!));
    expect(Array.from(sum!)).toEqual(Array.from(ref));
  });

  it('broadcast a shared operand over the batch, and leave other permutations alone', () => {
    const g = new Graph();
    const a = g.input('a', 'var', [4, 1]);
    const c = g.input('c', 'var', [2, 1, 6]);
    const av = data(4, 3), cv = data(12, 4);
    const bind = new Map([[a, av], [c, cv]]);
    const ref = outer(Float64Array.from([...av, ...av]), cv, 2, 4, 6);
    const [got] = compile(g, [g.swapLast(g.matmul(a, c))]).run(bind);
    for (let b = 0; b < 2; b++) for (let j = 0; j < 6; j++) for (let i = 0; i < 4; i++) expect(got![(b * 6 + j) * 4 + i]).toBe(ref[(b * 4 + i) * 6 + j]);
    // a permutation that moves the batch axis is an ordinary transpose of the product
    const [moved] = compile(g, [g.transpose(g.matmul(a, c), [2, 0, 1])]).run(bind);
    for (let b = 0; b < 2; b++) for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) expect(moved![(j * 2 + b) * 4 + i]).toBe(ref[(b * 4 + i) * 6 + j]);
  });
});

describe('2-D products with transposed operands or result (gemm flags)', () => {
  /** C = A·B for row-major A (M×K), B (K×N). */
  const naive = (A: Float64Array, B: Float64Array, M: number, K: number, N: number) => {
    const C = new Float64Array(M * N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[i * K + k]! * B[k * N + j]!;
      C[i * N + j] = s;
    }
    return C;
  };
  const tr = (A: Float64Array, R: number, C: number) => Float64Array.from({ length: R * C }, (_, i) => A[(i % R) * C + Math.floor(i / R)]!);
  const data = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(seed + 0.37 * i));
  const instrCount = (plan: ReturnType<typeof compile>) => (plan as unknown as { pre: { instrs: unknown[] } }).pre.instrs.length;
  const close = (a: Float64Array, b: Float64Array) => {
    expect(a.length).toBe(b.length);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-13 * Math.max(1, Math.abs(b[i]!)));
  };

  it('every combination of transposed operands and a transposed result is one instruction with the right values', () => {
    const [M, K, N] = [13, 37, 21];
    for (const tA of [false, true]) for (const tB of [false, true]) for (const tC of [false, true]) {
      const g = new Graph();
      // the inputs hold op(A) and op(B) transposed when the graph transposes them back
      const a = g.input('a', 'var', tA ? [K, M] : [M, K]);
      const b = g.input('b', 'var', tB ? [N, K] : [K, N]);
      const A = data(M * K, 1), B = data(K * N, 2);
      const prod = g.matmul(tA ? g.transpose(a, [1, 0]) : a, tB ? g.transpose(b, [1, 0]) : b);
      const out = tC ? g.transpose(prod, [1, 0]) : prod;
      const plan = compile(g, [out]);
      expect(instrCount(plan), `${tA} ${tB} ${tC}`).toBe(1);
      const [got] = plan.run(new Map([[a, tA ? tr(A, M, K) : A], [b, tB ? tr(B, K, N) : B]]));
      const C = naive(A, B, M, K, N);
      close(got!, tC ? tr(C, M, N) : C);
    }
  });

  it("a batched A [.., M, K] against a transposed 2-D B: one gemm over A's stacked rows", () => {
    const [P, M, K, N] = [3, 2, 7, 5];
    const g = new Graph();
    const a = g.input('a', 'var', [P, M, K]);
    const b = g.input('b', 'var', [N, K]);
    const prod = g.matmul(a, g.transpose(b, [1, 0]));
    // the result transposed too stays a transpose: only a 2-D product writes its transpose
    const swapped = g.transpose(prod, [0, 2, 1]);
    const A = data(P * M * K, 5), B = data(N * K, 6);
    const plan = compile(g, [prod]);
    expect(instrCount(plan)).toBe(1);
    const [got] = plan.run(new Map([[a, A], [b, B]]));
    close(got!, naive(A, tr(B, N, K), P * M, K, N));
    const [again, t] = compile(g, [prod, swapped]).run(new Map([[a, A], [b, B]]));
    close(again!, got!);
    for (let p = 0; p < P; p++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) expect(t![(p * N + j) * M + i]).toBe(got![(p * M + i) * N + j]);
  });

  it('keeps a transpose that has other readers, and chains folds without reading an unscheduled value', () => {
    const g = new Graph();
    const x = g.input('x', 'var', [6, 4]);
    const y = g.input('y', 'var', [6, 5]);
    const X = data(24, 3), Y = data(30, 4);
    // (xᵀ·y)ᵀ = yᵀ·x (5×4), then used transposed again: ((xᵀ·y)ᵀ)ᵀ·(yᵀ·y)… and xᵀ also read alone
    const p1 = g.transpose(g.matmul(g.transpose(x, [1, 0]), y), [1, 0]); // 5×4
    const p2 = g.matmul(g.transpose(p1, [1, 0]), g.matmul(g.transpose(y, [1, 0]), y)); // (4×5)·(5×5)
    const xt = g.transpose(x, [1, 0]);
    const both = g.matmul(xt, y); // xᵀ·y again (hash-consed: the same node as inside p1)
    const [r1, r2, r3, r4] = compile(g, [p1, p2, both, xt]).run(new Map([[x, X], [y, Y]]));
    const XtY = naive(tr(X, 6, 4), Y, 4, 6, 5);
    close(r1!, tr(XtY, 4, 5));
    close(r2!, naive(XtY, naive(tr(Y, 6, 5), Y, 5, 6, 5), 4, 5, 5));
    close(r3!, XtY);
    close(r4!, tr(X, 6, 4));
  });
});

describe("a backend's vector unary of a product with a constant", () => {
  it('is one instruction on every backend, with the values of the product then the unary kernel', () => {
    for (const name of availableBackends()) {
      const backend = backendByName(name)!;
      for (const op of ['tanh', 'exp'] as const) {
        const g = new Graph();
        const x = g.input('x', 'var', [33, 65]);
        const X = Float64Array.from({ length: 33 * 65 }, (_, i) => Math.cos(0.3 * i));
        const c = g.constant(16);
        const y = g.unary(op, g.mul(x, c));
        const plan = compile(g, [y], { backend });
        const count = (plan as unknown as { pre: { instrs: unknown[] } }).pre.instrs.length;
        // one instruction where the backend keeps op out of clusters (the const is inlined)
        if (backend.vectorUnary?.has(op)) expect(count, name).toBe(1);
        const [got] = plan.run(new Map([[x, X]]));
        const want = new Float64Array(X.length);
        backend.binary('mul', X, [33, 65], Float64Array.of(16), [], want, [33, 65]);
        backend.unary(op, want, want, want.length);
        expect(Array.from(got!), `${name} ${op}`).toEqual(Array.from(want));
      }
    }
  });
});

describe('Evaluator.grad without a copy', () => {
  it('gives the copied gradient’s values, as a view that the next call overwrites', async () => {
    const { Evaluator, loadModel } = await import('../../src/index.ts');
    const m = loadModel('examples/meanfield.ntk');
    const ev = new Evaluator(m);
    const w1 = m.w0.slice(), w2 = m.w0.map((x, i) => x + 1e-3 * Math.sin(i));
    const g1 = ev.grad(w1, 2).grad, g2 = ev.grad(w2, 2).grad;
    const view = ev.grad(w1, 2, { copy: false }).grad;
    expect(Array.from(view)).toEqual(Array.from(g1));
    ev.grad(w2, 2, { copy: false });
    expect(Array.from(view)).toEqual(Array.from(g2));
    expect(Array.from(g1)).not.toEqual(Array.from(g2));
  });
});

describe('run into the caller’s array', () => {
  // y = (x·2 + 1)·v with x fixed, v varying; z = x·3 depends on the fixed input only
  const g = new Graph();
  const x = g.input('x', 'var', [4]);
  const v = g.input('v', 'var', [4]);
  const y = g.mul(g.add(g.mul(x, g.constant(2)), g.constant(1)), v);
  const z = g.mul(x, g.constant(3));
  const X = Float64Array.of(1, 2, 3, 4), V = Float64Array.of(0.5, -1, 2, 0);

  it('an output computed on every run is written there directly, and the plan’s own buffer is left as it was', () => {
    const plan = compile(g, [y], { varying: [v] });
    const want = plan.run(new Map([[x, X], [v, V]]))[0]!;
    const into = new Float64Array(4).fill(NaN);
    const [got] = plan.run(new Map([[x, X], [v, V]]), { into });
    expect(got).toBe(into);
    expect(Array.from(into)).toEqual(Array.from(want));
    // a later run without `into` still gives the right values, in its own buffer
    const V2 = Float64Array.of(1, 1, 1, 1);
    const again = plan.run(new Map([[x, X], [v, V2]]))[0]!;
    expect(Array.from(again)).toEqual([3, 5, 7, 9]);
    expect(Array.from(into)).toEqual(Array.from(want)); // untouched by the later run
  });

  it('a view into a larger array (rows of a Jacobian) and an output of the cached fixed phase (copied)', () => {
    const big = new Float64Array(10).fill(-7);
    const plan = compile(g, [y], { varying: [v] });
    plan.run(new Map([[x, X], [v, V]]), { into: big.subarray(3, 7) });
    expect(Array.from(big)).toEqual([-7, -7, -7, 1.5, -5, 14, 0, -7, -7, -7]);
    const fixed = compile(g, [z], { varying: [v] });
    const zInto = new Float64Array(4);
    fixed.run(new Map([[x, X], [v, V]]));
    const [zz] = fixed.run(new Map([[x, X], [v, V]]), { into: zInto }); // the fixed phase is skipped: a copy
    expect(zz).toBe(zInto);
    expect(Array.from(zInto)).toEqual([3, 6, 9, 12]);
    expect(() => plan.run(new Map([[x, X], [v, V]]), { into: new Float64Array(3) })).toThrow(/'into' has 3 values/);
  });
});

describe('a concatenation written in place', () => {
  const instrOps = (plan: ReturnType<typeof compile>) =>
    [...(plan as unknown as { pre: { instrs: { op: string }[] } }).pre.instrs, ...(plan as unknown as { main: { instrs: { op: string }[] } }).main.instrs].map((i) => i.op);

  it('pieces computed into their blocks of the result (a gradient’s flat vector); the same values as a plain concat', () => {
    const g = new Graph();
    const x = g.input('x', 'var', [6, 4]);
    const w = g.input('w', 'var', [4, 3]);
    const a = g.reshape(g.matmul(x, w), [18]); // a gemm's output
    const b = g.sum(g.mul(g.tanh(x), g.constant(2)), [0]); // a fused reduction's
    const c = g.concat([a, b, g.neg(b)], 0);
    const X = Float64Array.from({ length: 24 }, (_, i) => Math.sin(i)), W = Float64Array.from({ length: 12 }, (_, i) => Math.cos(i));
    const bind = new Map([[x, X], [w, W]]);
    const placed = compile(g, [c]);
    expect(instrOps(placed)).not.toContain('concat');
    // the pieces as outputs of their own (outputs are never written in place), joined here
    const nb = g.neg(b);
    const pieces = compile(g, [a, b, nb]).run(bind);
    const want = [...pieces[0]!, ...pieces[1]!, ...pieces[2]!];
    expect(Array.from(placed.run(bind)[0]!)).toEqual(want);
    expect(Array.from(placed.run(bind)[0]!)).toEqual(want); // again, with the buffers reused
  });

  it('stays a copy where it cannot be in place: an input piece, a piece read later, pieces that interleave', () => {
    const g = new Graph();
    const x = g.input('x', 'var', [5]);
    const y = g.input('y', 'var', [2, 3]);
    const t = g.tanh(x);
    const withInput = g.concat([t, x], 0);
    const later = g.concat([t, g.exp(x)], 0);
    const readLater = g.add(g.sum(later, [0]), g.sum(t, [0])); // t read after its concat, which dies
    const rows = g.concat([g.exp(y), g.neg(y)], 1); // [2, 6]: the pieces' rows interleave
    const X = Float64Array.of(0.1, -0.2, 0.3, 0.5, -1), Y = Float64Array.of(1, 2, 3, -1, -2, -3);
    const bind = new Map([[x, X], [y, Y]]);
    for (const out of [withInput, readLater, rows]) {
      const plan = compile(g, [out]);
      expect(instrOps(plan)).toContain('concat');
      expect(Array.from(plan.run(bind)[0]!)).toEqual(Array.from(compile(g, [out], { fuse: false }).run(bind)[0]!));
    }
  });
});
