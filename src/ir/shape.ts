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
