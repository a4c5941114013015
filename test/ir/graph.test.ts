/** The graph: hash-consing, shapes, simplification. */
import { describe, expect, it } from 'vitest';
import { Graph } from '../../src/ir/graph.ts';
import { ShapeError } from '../../src/ir/shape.ts';
import { printGraph } from '../../src/ir/print.ts';

describe('hash-consing', () => {
  it('the same expression is one node', () => {
    const g = new Graph();
    const w = g.input('w', 'param', [3]);
    const a = g.tanh(g.mul(g.constant(2), w));
    const b = g.tanh(g.mul(w, g.constant(2)));
    expect(a).toBe(b);
    const size = g.size;
    g.add(a, b);
    g.add(a, b);
    expect(g.size).toBe(size + 1);
  });
  it('identical literals are one node; differing ones are not', () => {
    const g = new Graph();
    const x = g.literal(Float64Array.of(1, 2), [2]);
    expect(g.literal(Float64Array.of(1, 2), [2])).toBe(x);
    expect(g.literal(Float64Array.of(1, 3), [2])).not.toBe(x);
  });
});

describe('simplification', () => {
  const g = new Graph();
  const w = g.input('w', 'param', [3]);
  it('symbolic zeros and ones', () => {
    expect(g.isZero(g.mul(w, g.zeros([3])))).toBe(true);
    expect(g.add(w, g.zeros([]))).toBe(w);
    expect(g.mul(g.constant(1), w)).toBe(w);
    expect(g.pow(w, g.constant(1))).toBe(w);
    expect(g.sub(w, w)).toBe(g.zeros([3]));
    expect(g.neg(g.neg(w))).toBe(w);
  });
  it('constant folding', () => {
    expect(g.constValue(g.add(g.constant(2), g.mul(g.constant(3), g.constant(4))))).toBe(14);
    expect(g.constValue(g.sum(g.constant(2, [3, 4]), [1]))).toBe(8);
  });
  it('structural identities', () => {
    expect(g.reshape(w, [3])).toBe(w);
    expect(g.reshape(g.reshape(w, [1, 3]), [3])).toBe(w);
    const m = g.input('M', 'param', [2, 3]);
    expect(g.transpose(g.transpose(m, [1, 0]), [1, 0])).toBe(m);
    expect(g.slice(m, [0, 0], [2, 3])).toBe(m);
  });
  it('a transpose that only moves axes of size 1 is a reshape (no copy); others stay transposes', () => {
    const v = g.input('V', 'param', [4, 1, 5]);
    const t = g.transpose(v, [0, 2, 1]);
    expect(g.op(t)).toBe('reshape');
    expect(g.shape(t)).toEqual([4, 5, 1]);
    expect(g.op(g.transpose(v, [1, 0, 2]))).toBe('reshape');
    expect(g.op(g.transpose(v, [2, 1, 0]))).toBe('transpose');
    expect(g.op(g.transpose(g.input('N', 'param', [2, 3]), [1, 0]))).toBe('transpose');
  });
});

describe('shapes', () => {
  const g = new Graph();
  const a = g.input('a', 'param', [2, 3]);
  it('broadcasting follows numpy', () => {
    expect(g.shape(g.add(a, g.input('b', 'param', [3])))).toEqual([2, 3]);
    expect(g.shape(g.add(g.input('c', 'param', [4, 1, 3]), a))).toEqual([4, 2, 3]);
    expect(() => g.add(a, g.input('d', 'param', [2]))).toThrow(ShapeError);
  });
  it('matmul checks inner sizes and broadcasts batches', () => {
    expect(g.shape(g.matmul(g.input('e', 'param', [5, 1, 2, 3]), g.input('f', 'param', [4, 3, 7])))).toEqual([5, 4, 2, 7]);
    expect(() => g.matmul(a, a)).toThrow(/inner sizes 3 and 2 differ/);
  });
  it('reshape and slice are checked', () => {
    expect(() => g.reshape(a, [4])).toThrow(/cannot reshape/);
    expect(() => g.slice(a, [0, 0], [3, 3])).toThrow(/out of bounds/);
  });
});

describe('printing', () => {
  it('prints readable maths with shared subexpressions named once', () => {
    const g = new Graph();
    const w = g.input('w', 'param', []);
    const t = g.tanh(g.add(w, g.sin(w)));
    const h = g.add(g.mul(t, t), g.div(w, g.constant(10)));
    expect(printGraph(g, [['h', h]])).toBe('t1 = tanh(w + sin(w))\nh = t1*t1 + 0.1*w');
    // short shared subexpressions read better inline
    expect(printGraph(g, [['k', g.mul(g.sin(w), g.sin(w))]])).toBe('k = sin(w)*sin(w)');
  });
});
