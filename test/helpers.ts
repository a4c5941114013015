/** Shared test utilities: deterministic random data and graph evaluation. */
import { Graph, type NodeId } from '../src/ir/graph.ts';
import { compile } from '../src/runtime/compile.ts';

/** A small deterministic generator (LCG → [0, 1)); tests must not depend on Math.random. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

export function randomArray(rand: () => number, n: number, lo = -1, hi = 1): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rand();
  return a;
}

/** Evaluate `outputs` of `g` with inputs bound by node id. */
export function run(g: Graph, outputs: NodeId[], bind: [NodeId, Float64Array][]): Float64Array[] {
  return compile(g, outputs).run(new Map(bind));
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/** max_i |a_i − b_i| / max(‖b‖∞, floor). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  let num = 0, den = floor;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

/** The distance in units in the last place between two doubles (0 for equal values or two NaNs). */
export function ulpDistance(a: number, b: number): number {
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  if (Number.isNaN(a) || Number.isNaN(b)) return Infinity;
  const v = new DataView(new ArrayBuffer(8));
  // doubles ordered as integers: negative ones mirrored below zero
  const ord = (x: number) => {
    v.setFloat64(0, x);
    const bits = v.getBigInt64(0);
    return bits < 0n ? -(bits & 0x7fffffffffffffffn) : bits;
  };
  return Number(ord(a) - ord(b) < 0n ? ord(b) - ord(a) : ord(a) - ord(b));
}

export { Graph };
