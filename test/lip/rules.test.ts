/**
 * Every enclosure rule from the per-op case table (`test/op-cases.ts`, a Record over all ops),
 * on the case's graph with its inputs as the parameters:
 *  1. containment: at points of the ball B(w0, ρ), the value, the gradient and the Hessian of
 *     every output (by the graph's own derivatives) lie in the enclosures over the ball;
 *  2. sharpness at the centre: on B(w0, 0) the enclosures are the derivatives at w0 up to
 *     rounding (a rule that answered ±∞, or a wrong midpoint, fails here);
 *  3. the memory estimate, run through the same rules on support sizes, is an upper bound of
 *     what the pass stored (`estimateEntries` ≥ `entries`), and never more than the sum of
 *     the support sizes could give (≤ 4× here, where supports overlap little).
 */
import { describe, expect, it } from 'vitest';
import { jvp } from '../../src/ad/jvp.ts';
import { Graph, type NodeId } from '../../src/ir/graph.ts';
import type { Model } from '../../src/ir/model.ts';
import { sizeOf } from '../../src/ir/shape.ts';
import { certifiedBounds, estimateEntries, outputEnclosure } from '../../src/lip/enclosure.ts';
import { OP_CASES, type OpCase } from '../op-cases.ts';
import { lcg, randomArray, run } from '../helpers.ts';

const RHO = 0.05;

/** The case as a model: its inputs are the parameters, h its output flattened. */
function caseModel(cs: OpCase, seed: number) {
  const g = new Graph();
  const rand = lcg(seed);
  const xs = cs.shapes.map((s, i) => g.input(`x${i}`, 'param', s));
  const y = cs.build(g, xs);
  const h = g.reshape(y, [g.sizeOf(y)]);
  let offset = 0;
  const params = xs.map((node, i) => {
    const size = sizeOf(cs.shapes[i]!);
    const q = { name: `x${i}`, shape: cs.shapes[i]!, node, offset, size };
    offset += size;
    return q;
  });
  const p = offset;
  const w0 = cs.domain === 'positive' ? randomArray(rand, p, 0.6, 1.4) : randomArray(rand, p);
  const model = { graph: g, params, paramCount: p, w0, data: [], output: h, outputShape: g.shape(h) } as unknown as Model;
  return { g, xs, h, model, p, rand };
}

/** h, ∇h (k×p) and the Hessians (k×p×p) at w, by the graph's JVPs along unit vectors. */
function derivatives(g: Graph, xs: NodeId[], h: NodeId, p: number, shapes: number[][], w: Float64Array) {
  const unit = (j: number) => {
    let off = 0;
    return xs.map((_x, i) => {
      const n = sizeOf(shapes[i]!);
      const v = new Float64Array(n);
      if (j >= off && j < off + n) v[j - off] = 1;
      off += n;
      return g.literal(v, shapes[i]!);
    });
  };
  const along = (y: NodeId, j: number) => jvp(g, [y], new Map(xs.map((x, i) => [x, unit(j)[i]!])))[0]!;
  const d1 = Array.from({ length: p }, (_, j) => along(h, j));
  const d2 = d1.flatMap((dj) => Array.from({ length: p }, (_, l) => along(dj, l)));
  let off = 0;
  const bind = xs.map((x, i) => {
    const n = sizeOf(shapes[i]!);
    const b: [NodeId, Float64Array] = [x, w.slice(off, off + n)];
    off += n;
    return b;
  });
  const [value, ...rest] = run(g, [h, ...d1, ...d2], bind);
  const k = value!.length;
  const grad = new Float64Array(k * p), hess = new Float64Array(k * p * p);
  for (let j = 0; j < p; j++) for (let a = 0; a < k; a++) grad[a * p + j] = rest[j]![a]!;
  for (let j = 0; j < p; j++) for (let l = 0; l < p; l++) for (let a = 0; a < k; a++) hess[(a * p + j) * p + l] = rest[p + j * p + l]![a]!;
  return { value: value!, grad, hess };
}

/** x ∈ mid ± rad, with a rounding allowance for the float evaluation of x itself. */
function inside(x: ArrayLike<number>, mid: ArrayLike<number>, rad: ArrayLike<number>, what: string) {
  for (let i = 0; i < x.length; i++) {
    const slack = 1e-13 * (1 + Math.abs(x[i]!));
    if (!(Math.abs(x[i]! - mid[i]!) <= rad[i]! + slack)) expect.fail(`${what}[${i}] = ${x[i]} ∉ ${mid[i]} ± ${rad[i]}`);
  }
}

const rows = Object.entries(OP_CASES).flatMap(([op, cases]) => cases.map((cs) => [op, cs.name, cs] as const));

describe.each(rows)('%s: %s', (_op, _name, cs) => {
  it('contains the value, gradient and Hessian at points of the ball', () => {
    const { g, xs, h, model, p, rand } = caseModel(cs, 17);
    const enc = outputEnclosure(model, RHO);
    expect(enc.grad, 'a gradient enclosure').not.toBeNull();
    for (let s = 0; s < 4; s++) {
      const dir = randomArray(rand, p);
      const len = Math.hypot(...dir);
      const w = model.w0.map((v, i) => v + (RHO * (s / 3) * dir[i]!) / len);
      const d = derivatives(g, xs, h, p, cs.shapes, w);
      inside(d.value, enc.value.mid, enc.value.rad, 'h');
      inside(d.grad, enc.grad!.mid, enc.grad!.rad, '∇h');
      if (enc.hess) inside(d.hess, enc.hess.mid, enc.hess.rad, '∇²h');
    }
  });

  it('is sharp at the centre (radius 0)', () => {
    const { g, xs, h, model, p } = caseModel(cs, 17);
    const enc = outputEnclosure(model, 0);
    const d = derivatives(g, xs, h, p, cs.shapes, model.w0);
    const tight = (x: ArrayLike<number>, mid: ArrayLike<number>, rad: ArrayLike<number>, what: string) => {
      for (let i = 0; i < x.length; i++) {
        const scale = 1 + Math.abs(x[i]!);
        expect(rad[i]!, `${what}[${i}] radius`).toBeLessThanOrEqual(1e-12 * scale);
        expect(Math.abs(x[i]! - mid[i]!), `${what}[${i}]`).toBeLessThanOrEqual(1e-12 * scale);
      }
    };
    tight(d.value, enc.value.mid, enc.value.rad, 'h');
    tight(d.grad, enc.grad!.mid, enc.grad!.rad, '∇h');
    if (cs.name !== 'x * sign(x)') tight(d.hess, enc.hess!.mid, enc.hess!.rad, '∇²h');
  });

  it('the memory estimate bounds what the pass stored', () => {
    const { model } = caseModel(cs, 17);
    const stored = certifiedBounds(model, { radius: RHO }).entries;
    const estimate = estimateEntries(model);
    expect(estimate).toBeGreaterThanOrEqual(stored);
    expect(estimate).toBeLessThanOrEqual(4 * Math.max(stored, 1));
  });
});
