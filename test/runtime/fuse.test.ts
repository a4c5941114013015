/**
 * Elementwise fusion against the reference path: every fused plan must give the values of the
 * unfused plan (one kernel call per op), on hand-picked shapes and on random graphs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Graph, type NodeId } from '../../src/ir/graph.ts';
import { BINARY_OPS, UNARY_OPS, type UnaryOp } from '../../src/ir/ops.ts';
import { jsBackend } from '../../src/runtime/kernels-js.ts';
import { compile } from '../../src/runtime/compile.ts';
import { wasmBackend, wasmLimits } from '../../src/runtime/backend-wasm.ts';
import type { FusedProgram } from '../../src/runtime/fuse.ts';
import { loadModel } from '../../src/ir/load.ts';
import { gradLoss, hvpLoss } from '../../src/ad/derivatives.ts';
import { lcg, randomArray, relErr } from '../helpers.ts';

type Bind = [NodeId, Float64Array][];

/** Run both ways; return the fused plan (to inspect) and the largest relative difference. */
function compare(g: Graph, outputs: NodeId[], bind: Bind, varying: NodeId[] = []) {
  // the JS backend: no vectorUnary ops, so the clusters are the graph's alone
  const fused = compile(g, outputs, { fuse: true, varying, backend: jsBackend });
  const plain = compile(g, outputs, { fuse: false, varying, backend: jsBackend });
  const a = fused.run(new Map(bind));
  const b = plain.run(new Map(bind));
  const err = Math.max(...a.map((x, i) => relErr(x, b[i]!, 1e-300)));
  return { fused, plain, err, a, b };
}

/**
 * A random elementwise graph: inputs of `shapes`, then 12 nodes, each a unary op (with
 * probability `unaryShare`, from `unary`) or a binary one (pow with a constant exponent of its
 * fast paths or 1.3, of a positive base) of earlier nodes; and random input values in [−0.9, 0.9],
 * drawn after the graph.
 */
function randomElementwise(rand: () => number, shapes: number[][], unary: readonly UnaryOp[], unaryShare: number) {
  const g = new Graph();
  const inputs = shapes.map((s, i) => g.input(`x${i}`, 'var', s));
  const pool: NodeId[] = [...inputs];
  for (let k = 0; k < 12; k++) {
    const pick = () => pool[Math.floor(rand() * pool.length)]!;
    if (rand() < unaryShare) {
      pool.push(g.unary(unary[Math.floor(rand() * unary.length)]!, pick()));
    } else {
      const op = BINARY_OPS[Math.floor(rand() * BINARY_OPS.length)]!;
      const b = op === 'pow' ? g.constant([2, 0.5, 3, -1, 1.3][Math.floor(rand() * 5)]!) : pick();
      pool.push(g.binary(op, op === 'pow' ? g.add(g.mul(pick(), pick()), g.constant(1)) : pick(), b));
    }
  }
  const last = (i: number) => pool[pool.length - 1 - i]!;
  return { g, inputs, last, bind: () => inputs.map((n, i): [NodeId, Float64Array] => [n, randomArray(rand, shapes[i]!.reduce((x, y) => x * y, 1), -0.9, 0.9)]) };
}

const fusedCount = (plan: ReturnType<typeof compile>) =>
  // the number of instructions is what fusion reduces
  (plan as unknown as { main: { instrs: unknown[] }; pre: { instrs: unknown[] } }).main.instrs.length +
  (plan as unknown as { pre: { instrs: unknown[] } }).pre.instrs.length;

describe('elementwise fusion', () => {
  const rand = lcg(7);

  it('fuses a chain with broadcast leaves into one loop and agrees with the reference', () => {
    const g = new Graph();
    const z = g.input('z', 'var', [4, 5]);
    const a = g.input('a', 'var', [5]);
    const r = g.input('r', 'var', [4, 1]);
    const t = g.tanh(z);
    // 16·(1 − t²)·0.5·a·r, the shape of a sigmoid network's backward pass
    const y = g.mul(g.mul(g.mul(g.mul(g.constant(16), g.sub(g.constant(1), g.mul(t, t))), g.constant(0.5)), a), r);
    const { fused, plain, err } = compare(g, [y], [[z, randomArray(rand, 20)], [a, randomArray(rand, 5)], [r, randomArray(rand, 4)]]);
    expect(err).toBeLessThan(1e-15);
    expect(fusedCount(fused)).toBe(1);
    expect(fusedCount(plain)).toBeGreaterThan(4);
  });

  it("leaves out the ops a backend computes over whole arrays (its vectorUnary), which reach its unary kernel", () => {
    const g = new Graph();
    const z = g.input('z', 'var', [4, 5]);
    const a = g.input('a', 'var', [5]);
    const t = g.tanh(g.mul(g.constant(16), z));
    const y = g.mul(g.sub(g.constant(1), g.mul(t, t)), a);
    const seen: string[] = [];
    const backend = { ...jsBackend, vectorUnary: new Set(['tanh'] as const), unary: (op: UnaryOp, x: Float64Array, out: Float64Array, n: number) => (seen.push(op), jsBackend.unary(op, x, out, n)) };
    const bind = new Map([[z, randomArray(rand, 20)], [a, randomArray(rand, 5)]]);
    const apart = compile(g, [y], { fuse: true, backend });
    const ref = compile(g, [y], { fuse: false }).run(bind)[0]!;
    expect(relErr(apart.run(bind)[0]!, ref)).toBeLessThan(1e-15);
    expect(seen).toEqual(['tanh']);
    // tanh(16·z) (the product with a constant folded into the vector unary), then one loop
    expect(fusedCount(apart)).toBe(2);
    expect(fusedCount(compile(g, [y], { fuse: true, backend: jsBackend }))).toBe(1);
  });

  it('fuses a reduction of an elementwise body (sum over each axis and all)', () => {
    for (const axes of [[0], [1], [2], [0, 2], [0, 1, 2]]) {
      const g = new Graph();
      const x = g.input('x', 'var', [3, 4, 5]);
      const c = g.input('c', 'var', [4, 1]);
      const y = g.sum(g.mul(g.exp(x), c), axes);
      const { fused, err } = compare(g, [y], [[x, randomArray(rand, 60)], [c, randomArray(rand, 4)]]);
      expect(err).toBeLessThan(1e-14);
      expect(fusedCount(fused)).toBe(1);
    }
  });

  it('recomputes a broadcast inside every cluster that reads it, materializing it only for other readers', () => {
    const g = new Graph();
    const z = g.input('z', 'var', [6, 9]);
    const r = g.input('r', 'var', [6, 1]);
    const b = g.broadcast(g.mul(r, r), [6, 9]);
    // two clusters read b (the backward pass of W2's gradient has this shape: r broadcast over m)
    const s1 = g.sum(g.mul(g.sin(z), b), [0]);
    const m1 = g.mul(g.cos(z), g.add(b, z));
    const bind: Bind = [[z, randomArray(rand, 54)], [r, randomArray(rand, 6)]];
    const { fused, err } = compare(g, [s1, m1], bind);
    expect(err).toBeLessThan(1e-15);
    // r·r, then the two loops: b is not an instruction of its own
    expect(fusedCount(fused)).toBe(3);
    // a reader outside any cluster (a matmul) still gets it materialized, with the same values
    const mm = g.matmul(b, g.transpose(z, [1, 0]));
    const both = compare(g, [s1, m1, mm], bind);
    expect(both.err).toBeLessThan(1e-15);
    expect(fusedCount(both.fused)).toBe(5);
  });


  it('recomputes a cheap affine map (σ = 0.5 + 0.5·t) in each reduction that reads it, not as a pass of its own', () => {
    const g = new Graph();
    const z = g.input('z', 'var', [6, 9]);
    const a = g.input('a', 'var', [9]);
    const c = g.input('c', 'var', [6, 1]);
    const t = g.tanh(z);
    const sigma = g.add(g.constant(0.5), g.mul(g.constant(0.5), t));
    // W2's gradient: f = Σ_j a_j σ_ij and ga = Σ_i c_i σ_ij both read σ
    const f = g.sum(g.mul(a, sigma), [1]);
    const ga = g.sum(g.mul(sigma, c), [0]);
    const bind: Bind = [[z, randomArray(rand, 54)], [a, randomArray(rand, 9)], [c, randomArray(rand, 6)]];
    const { fused, err } = compare(g, [f, ga], bind);
    expect(err).toBeLessThan(1e-15); // the same values up to the order of the row sums (four lanes)
    // the two loops, each computing tanh and σ itself: σ is not an instruction of its own
    expect(fusedCount(fused)).toBe(2);
    // a chain of them is recomputed whole (−(2·σ) read by two loops as well)
    const neg = g.neg(g.mul(g.constant(2), sigma));
    const chain = compare(g, [g.sum(g.mul(neg, z), [1]), g.sum(g.mul(neg, c), [0])], bind);
    expect(chain.err).toBeLessThan(1e-15);
    expect(fusedCount(chain.fused)).toBe(2);
    // read by a node computed on its own (here a matmul), σ is materialized, with the same values
    const mm = g.matmul(sigma, g.transpose(z, [1, 0]));
    const both = compare(g, [f, ga, mm], bind);
    expect(both.err).toBeLessThan(1e-15);
    expect(fusedCount(both.fused)).toBe(4); // σ's loop (tanh inside), the two reductions, the matmul (zᵀ folded into it)
  });
  it('keeps values that other nodes, outputs or the other phase read', () => {
    const g = new Graph();
    const w = g.input('w', 'param', [6]);
    const v = g.input('v', 'tangent', [6]);
    const e = g.exp(g.sin(w)); // fixed phase, read by the varying phase
    const u = g.mul(g.cos(v), e);
    const out1 = g.add(u, g.constant(1));
    const out2 = g.mul(u, u); // u has two readers outside any one cluster: materialized
    const { err } = compare(g, [out1, out2, e], [[w, randomArray(rand, 6)], [v, randomArray(rand, 6)]], [v]);
    expect(err).toBe(0);
  });

  it('inlines constants exactly, including −0, ±∞ and the pow fast paths', () => {
    const g = new Graph();
    const x = g.input('x', 'var', [7]);
    const X = Float64Array.of(-2, -0.5, -0, 0, 0.25, 1.5, 3);
    for (const e of [2, 0.5, 1, -1, 3, 1.7]) {
      const y = g.add(g.pow(g.add(g.mul(x, x), g.constant(1)), g.constant(e)), g.constant(-0));
      expect(compare(g, [y], [[x, X]]).err).toBeLessThan(4e-16);
    }
    const big = g.div(g.sign(x), g.add(g.exp(g.neg(x)), g.constant(Infinity)));
    const { a, b } = compare(g, [big], [[x, X]]);
    expect([...a[0]!].map(Object.is.bind(null, 0))).toEqual([...b[0]!].map(Object.is.bind(null, 0)));
  });

  it('agrees with the reference on random elementwise graphs of every op', () => {
    const unary = UNARY_OPS.filter((op) => op !== 'log'); // log of negatives: NaN on both sides, checked elsewhere
    for (let trial = 0; trial < 40; trial++) {
      const r = randomElementwise(rand, [[3, 4], [4], [3, 1], [], [1, 4]], unary, 0.4);
      const g = r.g;
      const outs = [r.last(0), g.sum(g.mul(r.last(1), r.last(2)), [])];
      const { a, b } = compare(g, outs, r.bind());
      for (let o = 0; o < outs.length; o++)
        for (let i = 0; i < a[o]!.length; i++) {
          const x = a[o]![i]!, y = b[o]![i]!;
          if (Number.isNaN(y)) expect(x).toBeNaN();
          else expect(Math.abs(x - y)).toBeLessThanOrEqual(1e-13 * Math.max(1, Math.abs(y)));
        }
    }
  });

  it('gives the reference gradient and Hessian-vector product of the mean-field network', () => {
    const m = loadModel('examples/meanfield.ntk');
    const g = m.graph;
    const { alpha, grad } = gradLoss(m);
    const hv = hvpLoss(m);
    const bind: Bind = [...m.params.map((q): [NodeId, Float64Array] => [q.node, m.w0.subarray(q.offset, q.offset + q.size)]),
      ...m.data.map((d): [NodeId, Float64Array] => [d.node, d.value]),
      [alpha, Float64Array.of(3)], [hv.alpha, Float64Array.of(3)], [hv.v, randomArray(rand, m.paramCount)]];
    const { err, fused, plain } = compare(g, [grad, hv.out], bind);
    expect(err).toBeLessThan(1e-13);
    expect(fusedCount(fused)).toBeLessThan(fusedCount(plain) / 2);
  });
});

/**
 * The wasm backend's own fused loops (src/runtime/wasm/fused.ts) against the generated JS
 * loops: bit for bit (Object.is, so −0 and NaN count), on every loop shape they compile (odd and
 * even innermost lengths, broadcast leaves, scalars, sums along the innermost and outer axes)
 * and on random graphs. `wasmLimits.fused = 0` sends every size through wasm.
 */
describe('wasm fused loops', () => {
  const wasm = wasmBackend();
  const saved = { ...wasmLimits };
  afterEach(() => void Object.assign(wasmLimits, saved));
  const rand = lcg(11);

  /**
   * Fused plans on the JS backend and on the wasm one; the count of wasm loops used. The wasm
   * plan also runs streamed in chunks of a few doubles (blocks of one or two rows, the odd
   * remainders included), which must give the same bits.
   */
  function both(g: Graph, outputs: NodeId[], bind: Bind) {
    wasmLimits.fused = 0;
    let compiled = 0;
    const counting = { ...wasm!, fused: (p: FusedProgram) => { const k = wasm!.fused!(p); if (k) compiled++; return k; } };
    const a = compile(g, outputs, { fuse: true, backend: counting }).run(new Map(bind));
    // the JS fused loops with the wasm backend's other kernels (so only the loops differ)
    const b = compile(g, outputs, { fuse: true, backend: { ...wasm!, fused: undefined } }).run(new Map(bind));
    for (const chunk of [3, 13]) {
      wasmLimits.chunk = chunk;
      bitwise(compile(g, outputs, { fuse: true, backend: wasm! }).run(new Map(bind)), b);
    }
    wasmLimits.chunk = saved.chunk;
    return { a, b, compiled };
  }
  const bitwise = (a: Float64Array[], b: Float64Array[]) => {
    for (let o = 0; o < a.length; o++) {
      expect(a[o]!.length).toBe(b[o]!.length);
      for (let i = 0; i < a[o]!.length; i++) if (!Object.is(a[o]![i], b[o]![i])) expect([o, i, a[o]![i]]).toEqual([o, i, b[o]![i]]);
    }
  };

  // fuse: 'backend' (the kernel plans): only clusters the backend compiles itself, never
  // generated JS; what it leaves unfused runs op by op, with the same values.
  it.skipIf(!wasm)("fuse: 'backend' fuses only what the backend's own loops take, never generated JS", () => {
    const g = new Graph();
    const z = g.input('z', 'var', [64, 64]);
    const a = g.input('a', 'var', [64]);
    const y = g.mul(g.mul(g.sub(g.constant(1), g.mul(z, z)), a), g.constant(0.5));
    const bind: Bind = [[z, randomArray(rand, 4096)], [a, randomArray(rand, 64)]];
    const unfused = compile(g, [y], { fuse: false, backend: wasm! });
    const plain = unfused.run(new Map(bind));
    wasmLimits.fused = 0;
    const own = compile(g, [y], { fuse: 'backend', backend: wasm! });
    expect(fusedCount(own)).toBe(1);
    bitwise(own.run(new Map(bind)), plain);
    // a backend without loops of its own: nothing fused (the JS backend would generate code)
    const none = compile(g, [y], { fuse: 'backend', backend: jsBackend });
    expect(fusedCount(none)).toBe(fusedCount(unfused));
    expect(fusedCount(none)).toBeGreaterThan(1);
    bitwise(none.run(new Map(bind)), plain);
    // below the wasm loops' threshold the cluster stays unfused too
    wasmLimits.fused = 1 << 20;
    expect(fusedCount(compile(g, [y], { fuse: 'backend', backend: wasm! }))).toBe(fusedCount(unfused));
  });

  it.skipIf(!wasm)('equal the JS loops bit for bit on every loop shape, odd lengths and sums included', () => {
    for (const [R, C] of [[3, 5], [4, 6], [1, 7], [5, 1], [2, 2], [33, 17], [3, 8], [2, 12], [6, 11], [2, 4]]) {
      // one graph per loop, so that each is one cluster
      for (const which of ['map', 0, 1, 'all'] as const) {
        const g = new Graph();
        const z = g.input('z', 'var', [R, C]);
        const a = g.input('a', 'var', [C]);
        const r = g.input('r', 'var', [R, 1]);
        const s = g.input('s', 'var', []);
        const t = g.mul(z, z);
        // the backward loop of a sigmoid network, 16·(1 − t²)·0.5·a·r, over a scalar; and sums
        const out = which === 'map'
          ? g.div(g.mul(g.mul(g.mul(g.mul(g.constant(16), g.sub(g.constant(1), g.mul(t, t))), g.constant(0.5)), a), r), s)
          : g.sum(g.mul(g.neg(g.sub(z, a)), r), which === 'all' ? [0, 1] : [which]);
        const bind: Bind = [[z, randomArray(rand, R * C)], [a, randomArray(rand, C)], [r, randomArray(rand, R)], [s, Float64Array.of(0.3)]];
        const { a: got, b: want, compiled } = both(g, [out], bind);
        bitwise(got, want);
        expect(compiled).toBe(1);
      }
    }
  });

  it.skipIf(!wasm)('repeats the pow fast paths and keeps −0, ±∞ and NaN', () => {
    const X = Float64Array.of(-2, -0.5, -0, 0, 0.25, 1.5, 3, Infinity, NaN);
    for (const e of [2, 0.5, -1, 3, null]) {
      const g = new Graph();
      const x = g.input('x', 'var', [9]);
      const out = e === null
        ? g.div(g.neg(x), g.mul(x, g.constant(0)))
        : g.mul(g.pow(g.add(g.mul(x, x), g.constant(-0.25)), g.constant(e)), g.constant(-1));
      const { a, b, compiled } = both(g, [out], [[x, X]]);
      bitwise(a, b);
      expect(compiled).toBe(1);
    }
  });

  it.skipIf(!wasm)('equal the JS loops on random graphs; loops with ops it lacks stay in JS', () => {
    let used = 0;
    for (let trial = 0; trial < 40; trial++) {
      const r = randomElementwise(rand, [[5, 7], [7], [5, 1], [], [1, 7]], ['neg', 'sin', 'exp'], 0.15);
      const g = r.g;
      const outs = [r.last(0), g.sum(g.mul(r.last(1), r.last(2)), [0]), g.sum(g.mul(r.last(3), r.inputs[0]!), [])];
      const { a, b, compiled } = both(g, outs, r.bind());
      bitwise(a, b);
      used += compiled;
    }
    expect(used).toBeGreaterThan(20);
  });

  it.skipIf(!wasm)('give the mean-field gradient bit for bit as the JS loops do', () => {
    const m = loadModel('examples/meanfield.ntk');
    const { alpha, grad, value } = gradLoss(m);
    const bind: Bind = [...m.params.map((q): [NodeId, Float64Array] => [q.node, m.w0.subarray(q.offset, q.offset + q.size)]),
      ...m.data.map((d): [NodeId, Float64Array] => [d.node, d.value]), [alpha, Float64Array.of(3)]];
    const { a, b, compiled } = both(m.graph, [value, grad], bind);
    bitwise(a, b);
    expect(compiled).toBeGreaterThan(2);
  });
});
