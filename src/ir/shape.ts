import type { Attrs } from './ops.ts';

/** Static shapes: row-major, `[]` a scalar. Numpy's broadcasting rules. */

export class BroadcastError extends Error {}

/** Number of elements of a shape (1 for a scalar). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[3, 4]`, `[]` for a scalar. */
export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Numpy broadcasting: align trailing axes; sizes must be equal or 1.
 * `broadcastShapes([3, 1], [4]) = [3, 4]`.
 */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new BroadcastError(`shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Row-major strides. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/**
 * The axes of `out` along which `x` was broadcast (numpy rules): the leading axes `x` lacks, and
 * the axes where `x` has size 1 but `out` does not. Summing over them undoes the broadcast.
 */
export function broadcastAxes(x: readonly number[], out: readonly number[]): number[] {
  const lead = out.length - x.length;
  const axes: number[] = [];
  for (let i = 0; i < out.length; i++) {
    if (i < lead || (x[i - lead] === 1 && out[i] !== 1)) axes.push(i);
  }
  return axes;
}

/** For broadcasting an input of shape `s` to `out`: the input element of each output element. */
export function broadcastIndex(s: readonly number[], out: readonly number[]): Int32Array {
  const n = out.reduce((a, b) => a * b, 1);
  const map = new Int32Array(n);
  const r = out.length, off = r - s.length;
  const inStrides = new Array<number>(r).fill(0);
  let st = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    inStrides[i + off] = s[i] === 1 ? 0 : st;
    st *= s[i]!;
  }
  const idx = new Array<number>(r).fill(0);
  for (let e = 0; e < n; e++) {
    let src = 0;
    for (let i = 0; i < r; i++) src += idx[i]! * inStrides[i]!;
    map[e] = src;
    for (let i = r - 1; i >= 0; i--) {
      if (++idx[i]! < out[i]!) break;
      idx[i] = 0;
    }
  }
  return map;
}

// ------------------------------------------------------------------ shape rules of the primitives

export class ShapeError extends Error {}

export const unaryShape = (inputs: number[][]) => inputs[0]!.slice();
export const elementwiseShape = (inputs: number[][]) => broadcastShapes(inputs[0]!, inputs[1]!);
export const leafShape = (_: number[][], a: Attrs) => {
  if (!a.shape) throw new ShapeError('a leaf needs a shape');
  return a.shape.slice();
};

export function matmulShape([a, b]: number[][]): number[] {
  if (a!.length < 2 || b!.length < 2)
    throw new ShapeError(`matmul needs matrices, got ${shapeStr(a!)} and ${shapeStr(b!)}`);
  const [m, k1] = a!.slice(-2) as [number, number];
  const [k2, n] = b!.slice(-2) as [number, number];
  if (k1 !== k2)
    throw new ShapeError(`cannot multiply ${shapeStr(a!)} by ${shapeStr(b!)}: inner sizes ${k1} and ${k2} differ`);
  const batch = broadcastShapes(a!.slice(0, -2), b!.slice(0, -2));
  return [...batch, m, n];
}

export function broadcastShape([x]: number[][], a: Attrs): number[] {
  const target = a.shape!;
  const joined = broadcastShapes(x!, target);
  if (joined.length !== target.length || joined.some((d, i) => d !== target[i]))
    throw new ShapeError(`cannot broadcast ${shapeStr(x!)} to ${shapeStr(target)}`);
  return target.slice();
}

export function sumShape([x]: number[][], a: Attrs): number[] {
  const axes = a.axes!;
  for (const ax of axes)
    if (!Number.isInteger(ax) || ax < 0 || ax >= x!.length)
      throw new ShapeError(`axis ${ax} is out of range for shape ${shapeStr(x!)}`);
  return x!.filter((_, i) => !axes.includes(i));
}

export function reshapeShape([x]: number[][], a: Attrs): number[] {
  if (sizeOf(x!) !== sizeOf(a.shape!))
    throw new ShapeError(`cannot reshape ${shapeStr(x!)} (${sizeOf(x!)} elements) to ${shapeStr(a.shape!)}`);
  return a.shape!.slice();
}

export function transposeShape([x]: number[][], a: Attrs): number[] {
  const perm = a.perm!;
  if (perm.length !== x!.length || [...perm].sort((p, q) => p - q).some((p, i) => p !== i))
    throw new ShapeError(`[${perm}] is not a permutation of the ${x!.length} axes of ${shapeStr(x!)}`);
  return perm.map((p) => x![p]!);
}

export function sliceShape([x]: number[][], a: Attrs): number[] {
  const { starts, ends } = a;
  if (starts!.length !== x!.length || ends!.length !== x!.length)
    throw new ShapeError(`slice needs a range for each of the ${x!.length} axes`);
  return x!.map((d, i) => {
    const lo = starts![i]!, hi = ends![i]!;
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && 0 <= lo && lo <= hi && hi <= d))
      throw new ShapeError(`range ${lo}:${hi} is out of bounds for an axis of size ${d}`);
    return hi - lo;
  });
}

export function padShape([x]: number[][], a: Attrs): number[] {
  const out = a.shape!, before = a.starts!;
  if (out.length !== x!.length || before.length !== x!.length)
    throw new ShapeError(`pad needs an offset for each of the ${x!.length} axes`);
  x!.forEach((d, i) => {
    if (before[i]! < 0 || before[i]! + d > out[i]!)
      throw new ShapeError(`cannot place ${shapeStr(x!)} at [${before}] in ${shapeStr(out)}`);
  });
  return out.slice();
}

export function concatShape(inputs: number[][], a: Attrs): number[] {
  const axis = a.axis!;
  const first = inputs[0]!;
  if (axis < 0 || axis >= first.length) throw new ShapeError(`concat axis ${axis} out of range`);
  let total = 0;
  for (const s of inputs) {
    if (s.length !== first.length || s.some((d, i) => i !== axis && d !== first[i]))
      throw new ShapeError(`cannot join ${shapeStr(first)} and ${shapeStr(s)} along axis ${axis}`);
    total += s[axis]!;
  }
  const out = first.slice();
  out[axis] = total;
  return out;
}

