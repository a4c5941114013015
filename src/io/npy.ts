/**
 * Writing `.npy` files (NumPy's format, dtype `<f8`, C order) block by block, atomically: for
 * arrays too large to hold — a kernel merged from tiles — and for every array result of the CLI
 * (`--out K.npy`). The reader is `parseNpy` in `io/data.ts`; numpy reads these files with
 * `numpy.load` (also with `mmap_mode='r'`).
 */
import { AtomicFile } from './atomic.ts';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** numpy's `GROWTH_AXIS_MAX_DIGITS`: room left in the header to grow the first axis in place. */
const GROWTH_AXIS_MAX_DIGITS = 21;
/** numpy's `ARRAY_ALIGN`: the data starts at a multiple of 64 bytes. */
const ARRAY_ALIGN = 64;

/**
 * The header of a `.npy` file of float64 values of this shape, byte for byte what
 * `numpy.save(f, np.zeros(shape))` writes (numpy 1.23 to 2.x, `_write_array_header`):
 * magic, version 1.0 (2.0 when the header passes 65535 bytes), the header length, then
 *   {'descr': '<f8', 'fortran_order': False, 'shape': (n0, n1, …), }
 * followed by 21 − len(str(n0)) spaces of room to grow axis 0 (none for shape ()), then
 * 1 to 64 spaces and a newline so that the data starts at a multiple of 64 bytes.
 *
 * @example npyHeader([3, 4]).length // 128
 */
export function npyHeader(shape: readonly number[]): Uint8Array {
  if (!shape.every((n) => Number.isSafeInteger(n) && n >= 0))
    throw new RangeError(`invalid shape [${shape.join(', ')}]: dimensions must be non-negative integers`);
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '<f8', 'fortran_order': False, 'shape': ${tuple}, }`;
  if (shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  const wrap = (prefix: number) => {
    const hlen = dict.length + 1;
    const pad = ARRAY_ALIGN - ((prefix + hlen) % ARRAY_ALIGN); // 1..64, as numpy's _wrap_header
    return { headerLen: hlen + pad, pad };
  };
  let version = 1, prefix = 10;
  let { headerLen, pad } = wrap(prefix);
  if (headerLen > 0xffff) {
    version = 2;
    prefix = 12;
    ({ headerLen, pad } = wrap(prefix));
  }
  const out = new Uint8Array(prefix + headerLen);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  const text = dict + ' '.repeat(pad) + '\n';
  for (let i = 0; i < text.length; i++) out[prefix + i] = text.charCodeAt(i);
  return out;
}

/** Float64 values as little-endian bytes (a view on little-endian hosts, a copy otherwise). */
function leBytes(data: Float64Array): Uint8Array {
  if (HOST_LE) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat64(8 * i, data[i]!, true);
  return out;
}

/**
 * A `.npy` file of float64 values written in blocks: `create` preallocates the whole file
 * (header + 8·∏shape bytes) as a temporary file next to the target; `write(offset, values)`
 * puts values at a flat C-order element offset (any order, positioned writes, so a matrix
 * merged from tiles is never held whole); `append(values)` continues after the last block;
 * `commit()` renames it over the target. A failure on the way (a full disk) removes the
 * temporary file: the target is either the old file or the complete new one.
 *
 * @example
 *   const w = NpyWriter.create('K.npy', [n, n]);
 *   for (let i = 0; i < n; i++) w.write(i * n, row(i));   // row i of K
 *   w.commit();
 */
export class NpyWriter {
  /** Values of the whole array. */
  readonly size: number;
  private next = 0;

  private constructor(
    readonly path: string,
    readonly shape: readonly number[],
    private readonly file: AtomicFile,
    private readonly dataStart: number,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }

  static create(path: string, shape: readonly number[]): NpyWriter {
    const header = npyHeader(shape);
    const size = shape.reduce((a, b) => a * b, 1);
    const file = AtomicFile.open(path, header.length + 8 * size);
    const w = new NpyWriter(path, shape, file, header.length);
    file.write(header, 0);
    return w;
  }

  /** Write `values` at element `offset` (C order), i.e. at byte header + 8·offset. */
  write(offset: number, values: Float64Array): void {
    if (!(Number.isSafeInteger(offset) && offset >= 0 && offset + values.length <= this.size)) {
      this.file.abort();
      throw new RangeError(`cannot write '${this.path}': values ${offset}..${offset + values.length} are outside the array of ${this.size}`);
    }
    this.file.write(leBytes(values), this.dataStart + 8 * offset);
    this.next = offset + values.length;
  }

  /**
   * For a 2-D array (n0×n1): the block of rows r0 … r0+nr−1 and columns c0 … c0+nc−1 from
   * `data` (nr×nc, row-major), or with `transpose` from the transpose of `data` (nc×nr), one
   * positioned write per row. A symmetric matrix merged from its upper tiles writes each
   * off-diagonal tile twice, as is and transposed.
   * @example w.writeBlock(0, 4, 4, 4, tile); w.writeBlock(4, 0, 4, 4, tile, true);
   */
  writeBlock(r0: number, c0: number, nr: number, nc: number, data: Float64Array, transpose = false): void {
    if (this.shape.length !== 2 || data.length !== nr * nc || r0 + nr > this.shape[0]! || c0 + nc > this.shape[1]!) {
      this.file.abort();
      throw new RangeError(`cannot write '${this.path}': a ${nr}×${nc} block at (${r0}, ${c0}) does not fit the array [${this.shape.join(', ')}]`);
    }
    const n1 = this.shape[1]!;
    const row = new Float64Array(nc);
    for (let r = 0; r < nr; r++) {
      if (transpose) for (let c = 0; c < nc; c++) row[c] = data[c * nr + r]!;
      else row.set(data.subarray(r * nc, (r + 1) * nc));
      this.write((r0 + r) * n1 + c0, row);
    }
  }

  /** Write `values` after the last block written. */
  append(values: Float64Array): void {
    this.write(this.next, values);
  }

  commit(): void {
    this.file.commit();
  }

  abort(): void {
    this.file.abort();
  }
}

/**
 * Write a whole array as `.npy` atomically (see `NpyWriter`); `shape` must match `data.length`.
 * @example writeNpy('K.npy', [k, k], K);
 */
export function writeNpy(path: string, shape: readonly number[], data: Float64Array): void {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new RangeError(`cannot write '${path}': shape [${shape.join(', ')}] needs ${size} values but the data has ${data.length}`);
  const w = NpyWriter.create(path, shape);
  w.write(0, data);
  w.commit();
}
