/**
 * Loading numeric arrays from data files (.npy, .csv, .json) and writing .npy files.
 *
 * Every array is returned as float64 in row-major (C) order together with its shape. Every
 * failure is a `DataError` carrying the file name and, where it makes sense, a 1-based line
 * and column, so that the caller can turn it into a located diagnostic.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { npyHeader, writeNpy } from './npy.ts';

/** A float64 array in row-major order; `data.length` is the product of `shape` (1 for []). */
export interface LoadedArray {
  shape: number[];
  data: Float64Array;
}

/**
 * A problem with a data file. `message` is a human sentence without the file name (except
 * for "cannot read 'X'"); `file` is the path as given; `line`/`col` are 1-based when known.
 */
export class DataError extends Error {
  readonly file: string;
  readonly line?: number;
  readonly col?: number;
  constructor(message: string, file: string, line?: number, col?: number) {
    super(message);
    this.name = 'DataError';
    this.file = file;
    if (line !== undefined) this.line = line;
    if (col !== undefined) this.col = col;
  }
}

// ------------------------------------------------------------------------------ dispatch

/**
 * Load an array from `path`, choosing the format by extension (case-insensitive):
 *
 * - `.npy`: NumPy format 1.0/2.0/3.0, numeric and boolean dtypes (see `parseNpy`);
 * - `.csv`: comma-separated numbers, one row per line (see `parseCsv`);
 * - `.json`: a number, nested rectangular arrays, or `{"shape": [...], "data": [...]}`
 *   (see `parseJsonArray`).
 *
 * Throws `DataError` for an unsupported extension, an unreadable file and malformed content.
 * NaN and ±Inf are returned as parsed values; use `findNonFinite` to reject them.
 *
 * @example
 *   const { shape, data } = loadArray('data/x.npy'); // shape [100, 3]
 */
export function loadArray(path: string): LoadedArray {
  const ext = nodePath.extname(path).toLowerCase();
  if (ext !== '.npy' && ext !== '.csv' && ext !== '.json') {
    const what = ext === '' ? 'unsupported data format (no file extension)' : `unsupported data format '${ext}'`;
    throw new DataError(`${what}: use .npy, .csv or .json`, path);
  }
  const bytes = readBytes(path);
  if (ext === '.npy') return parseNpy(bytes, path);
  const text = decodeUtf8(bytes, path);
  return ext === '.csv' ? parseCsv(text, path) : parseJsonArray(text, path);
}

function readBytes(path: string): Uint8Array {
  try {
    return fs.readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    let reason: string;
    switch (code) {
      case 'ENOENT':
        reason = 'no such file';
        break;
      case 'EISDIR':
        reason = 'it is a directory';
        break;
      case 'EACCES':
      case 'EPERM':
        reason = 'permission denied';
        break;
      case 'ENOTDIR':
        reason = 'a component of the path is not a directory';
        break;
      default:
        reason = err instanceof Error ? err.message : String(err);
    }
    throw new DataError(`cannot read '${path}': ${reason}`, path);
  }
}

function decodeUtf8(bytes: Uint8Array, file: string): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DataError('the file is not valid UTF-8 text', file);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

// ------------------------------------------------------------------------------ .npy

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue } | PyTuple;
class PyTuple {
  readonly items: PyValue[];
  constructor(items: PyValue[]) {
    this.items = items;
  }
}

/** A tiny parser for the Python literal subset used in .npy headers. */
class PyLiteralParser {
  pos = 0;
  readonly src: string;
  readonly file: string;
  constructor(src: string, file: string) {
    this.src = src;
    this.file = file;
  }

  fail(msg: string): never {
    throw new DataError(`malformed .npy header: ${msg} in ${JSON.stringify(this.src.trim())}`, this.file);
  }
  ws(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }
  expect(ch: string): void {
    this.ws();
    if (this.src[this.pos] !== ch) this.fail(`expected '${ch}' at offset ${this.pos}`);
    this.pos++;
  }
  value(): PyValue {
    this.ws();
    const c = this.src[this.pos];
    if (c === undefined) this.fail('unexpected end');
    if (c === '{') return this.dict();
    if (c === '(') return new PyTuple(this.seq('(', ')'));
    if (c === '[') return this.seq('[', ']');
    if (c === "'" || c === '"') return this.str();
    const m = /^(?:[+-]?\d+L?|True|False|None)/.exec(this.src.slice(this.pos));
    if (!m) this.fail(`unexpected character '${c}' at offset ${this.pos}`);
    this.pos += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0].replace(/L$/, ''));
  }
  str(): string {
    const q = this.src[this.pos]!;
    this.pos++;
    let out = '';
    while (this.pos < this.src.length && this.src[this.pos] !== q) {
      if (this.src[this.pos] === '\\') this.pos++;
      out += this.src[this.pos] ?? '';
      this.pos++;
    }
    if (this.pos >= this.src.length) this.fail('unterminated string');
    this.pos++;
    return out;
  }
  seq(open: string, close: string): PyValue[] {
    this.expect(open);
    const items: PyValue[] = [];
    for (;;) {
      this.ws();
      if (this.src[this.pos] === close) {
        this.pos++;
        return items;
      }
      items.push(this.value());
      this.ws();
      if (this.src[this.pos] === ',') this.pos++;
      else if (this.src[this.pos] !== close) this.fail(`expected ',' or '${close}' at offset ${this.pos}`);
    }
  }
  dict(): { [k: string]: PyValue } {
    this.expect('{');
    const d: { [k: string]: PyValue } = {};
    for (;;) {
      this.ws();
      if (this.src[this.pos] === '}') {
        this.pos++;
        return d;
      }
      const k = this.value();
      if (typeof k !== 'string') this.fail('dictionary keys must be strings');
      this.expect(':');
      d[k] = this.value();
      this.ws();
      if (this.src[this.pos] === ',') this.pos++;
      else if (this.src[this.pos] !== '}') this.fail(`expected ',' or '}' at offset ${this.pos}`);
    }
  }
}

interface NpyDtype {
  kind: 'f' | 'i' | 'u' | 'b';
  size: number;
  littleEndian: boolean;
}

function parseDescr(descr: PyValue, file: string): NpyDtype {
  if (typeof descr !== 'string') {
    throw new DataError('structured (record) dtypes are not supported: save a plain numeric array', file);
  }
  const m = /^([<>|=]?)([a-zA-Z?])(\d*)$/.exec(descr);
  const bad = (why: string): never => {
    throw new DataError(`${why} (dtype '${descr}'): save the array as float64`, file);
  };
  if (!m) bad('unsupported dtype');
  const [, order, kindCh, sizeStr] = m!;
  const kind = kindCh!;
  const size = sizeStr === '' ? (kind === '?' || kind === 'b' ? 1 : NaN) : Number(sizeStr);
  if (kind === 'c') bad('complex arrays are not supported');
  if (kind === 'O') bad('object arrays are not supported');
  if (kind === 'U' || kind === 'S' || kind === 'a') bad('string arrays are not supported');
  if (kind === 'M' || kind === 'm') bad('datetime arrays are not supported');
  if (kind === 'V') bad('void/structured arrays are not supported');
  const ok =
    (kind === 'f' && (size === 2 || size === 4 || size === 8)) ||
    ((kind === 'i' || kind === 'u') && (size === 1 || size === 2 || size === 4 || size === 8)) ||
    ((kind === 'b' || kind === '?') && size === 1);
  if (!ok) bad('unsupported dtype');
  // '|' (not applicable) and '=' (native) are read as little-endian: .npy files come from
  // little-endian hosts in practice, and for 1-byte types the order does not matter.
  return { kind: kind === '?' ? 'b' : (kind as NpyDtype['kind']), size, littleEndian: order !== '>' };
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f === 0 ? s * Infinity : NaN;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * Parse the bytes of a `.npy` file (NumPy format versions 1.0, 2.0 and 3.0).
 *
 * Layout: magic `\x93NUMPY`, major and minor version bytes, header length (uint16 LE for
 * 1.x, uint32 LE for 2.x/3.x), then a Python dict literal such as
 * `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }` (latin-1; UTF-8 in 3.0),
 * then the raw data. Accepted dtypes: float `f2`/`f4`/`f8`, signed `i1`..`i8`, unsigned
 * `u1`..`u8` and bool `b1`, in either byte order (`<`, `>`; `|` and `=` are read as
 * little-endian); all are converted to float64 (64-bit integers beyond 2^53 are rounded to
 * the nearest double). Shape `()` is a scalar (shape []). Trailing bytes after the data are
 * ignored, as NumPy does. `fortran_order: True` is refused unless at most one dimension
 * exceeds 1 (then the Fortran and C layouts coincide).
 *
 * @example parseNpy(fs.readFileSync('w.npy'), 'w.npy') // { shape: [3, 4], data: Float64Array(12) }
 */
export function parseNpy(bytes: Uint8Array, file: string): LoadedArray {
  if (bytes.length < 8 || NPY_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new DataError('not a .npy file (missing the \\x93NUMPY magic bytes)', file);
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    if (bytes.length < 10) throw new DataError('truncated .npy file: the header is incomplete', file);
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new DataError('truncated .npy file: the header is incomplete', file);
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new DataError(`unsupported .npy format version ${major}.${minor} (expected 1.0, 2.0 or 3.0)`, file);
  }
  const dataStart = headerStart + headerLen;
  if (bytes.length < dataStart) {
    throw new DataError(
      `truncated .npy file: expected ${headerLen} bytes of header, found ${bytes.length - headerStart}`,
      file,
    );
  }
  const headerBytes = bytes.subarray(headerStart, dataStart);
  const header =
    major === 3 ? new TextDecoder('utf-8').decode(headerBytes) : new TextDecoder('latin1').decode(headerBytes);

  const p = new PyLiteralParser(header, file);
  const d = p.value();
  p.ws();
  if (p.pos !== header.length) p.fail(`unexpected text at offset ${p.pos}`);
  if (typeof d !== 'object' || d === null || Array.isArray(d) || d instanceof PyTuple) {
    p.fail('expected a dictionary');
  }
  const dict = d as { [k: string]: PyValue };
  for (const k of ['descr', 'fortran_order', 'shape']) {
    if (!(k in dict)) p.fail(`missing key '${k}'`);
  }
  const dtype = parseDescr(dict['descr']!, file);
  const fortran = dict['fortran_order'];
  if (typeof fortran !== 'boolean') p.fail("'fortran_order' must be True or False");
  const shapeV = dict['shape'];
  const shapeItems = shapeV instanceof PyTuple ? shapeV.items : Array.isArray(shapeV) ? shapeV : null;
  if (!shapeItems || !shapeItems.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
    p.fail("'shape' must be a tuple of non-negative integers");
  }
  const shape = shapeItems as number[];
  if (fortran && shape.filter((n) => n > 1).length > 1) {
    throw new DataError(
      'Fortran-ordered arrays are not supported: save with np.ascontiguousarray',
      file,
    );
  }
  const count = product(shape);
  const need = count * dtype.size;
  const have = bytes.length - dataStart;
  if (have < need) {
    throw new DataError(`truncated .npy file: expected ${need} bytes of data, found ${have}`, file);
  }

  const out = new Float64Array(count);
  const le = dtype.littleEndian;
  const dv = new DataView(bytes.buffer, bytes.byteOffset + dataStart, need);
  const { kind, size } = dtype;
  if (kind === 'f' && size === 8 && le === HOST_LE) {
    new Uint8Array(out.buffer).set(bytes.subarray(dataStart, dataStart + need));
  } else if (kind === 'f' && size === 8) {
    for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, le);
  } else if (kind === 'f' && size === 4) {
    for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, le);
  } else if (kind === 'f') {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(dv.getUint16(2 * i, le));
  } else if (kind === 'b') {
    for (let i = 0; i < count; i++) out[i] = dv.getUint8(i) !== 0 ? 1 : 0;
  } else if (size === 1) {
    for (let i = 0; i < count; i++) out[i] = kind === 'i' ? dv.getInt8(i) : dv.getUint8(i);
  } else if (size === 2) {
    for (let i = 0; i < count; i++) out[i] = kind === 'i' ? dv.getInt16(2 * i, le) : dv.getUint16(2 * i, le);
  } else if (size === 4) {
    for (let i = 0; i < count; i++) out[i] = kind === 'i' ? dv.getInt32(4 * i, le) : dv.getUint32(4 * i, le);
  } else {
    // 64-bit integers: hi·2^32 is exact, adding lo rounds once (correctly rounded result)
    const hiOff = le ? 4 : 0;
    const loOff = le ? 0 : 4;
    for (let i = 0; i < count; i++) {
      const hi = kind === 'i' ? dv.getInt32(8 * i + hiOff, le) : dv.getUint32(8 * i + hiOff, le);
      out[i] = hi * 4294967296 + dv.getUint32(8 * i + loOff, le);
    }
  }
  return { shape: [...shape], data: out };
}

/**
 * Encode an array as a `.npy` file: dtype `<f8`, C order, the header byte for byte what
 * `numpy.save` writes (`npyHeader` in io/npy.ts), the data at a multiple of 64 bytes.
 *
 * @example encodeNpy({ shape: [2], data: new Float64Array([1, 2]) }) // 144 bytes
 */
export function encodeNpy(a: LoadedArray): Uint8Array {
  const header = npyHeader(a.shape);
  const total = header.length;
  const out = new Uint8Array(total + 8 * a.data.length);
  out.set(header, 0);
  if (HOST_LE) {
    out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), total);
  } else {
    const view = new DataView(out.buffer);
    for (let i = 0; i < a.data.length; i++) view.setFloat64(total + 8 * i, a.data[i]!, true);
  }
  return out;
}

/**
 * Write `a` to `path` as a `.npy` file (`<f8`, C order, numpy's header — see `encodeNpy`),
 * atomically (temporary file in the same directory, then rename; see `writeFileAtomic`).
 * Throws `DataError` if `data.length` does not match the shape or the file cannot be written.
 *
 * @example saveNpy('out/kernel.npy', { shape: [n, n], data: K });
 */
export function saveNpy(path: string, a: LoadedArray): void {
  if (!a.shape.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new DataError(`invalid shape ${shapeStr(a.shape)}: dimensions must be non-negative integers`, path);
  }
  if (a.data.length !== product(a.shape)) {
    throw new DataError(
      `shape ${shapeStr(a.shape)} needs ${product(a.shape)} values but the data has ${a.data.length}`,
      path,
    );
  }
  try {
    writeNpy(path, a.shape, a.data); // streamed from the data: no second copy of the array
  } catch (err) {
    throw new DataError(err instanceof Error ? err.message : String(err), path);
  }
}

// ------------------------------------------------------------------------------ numbers

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL_RE = /^([+-]?)(nan|inf|infinity)$/i;

/** Parse a decimal number, or nan/inf/infinity (any case, optional sign); null if neither. */
function parseNumberToken(s: string): number | null {
  if (NUMBER_RE.test(s)) return Number(s);
  const m = SPECIAL_RE.exec(s);
  if (!m) return null;
  if (m[2]!.toLowerCase() === 'nan') return NaN;
  return m[1] === '-' ? -Infinity : Infinity;
}

// ------------------------------------------------------------------------------ .csv

interface CsvField {
  text: string;
  col: number; // 1-based column of the field's first non-blank character
  quoted: boolean;
}

function splitCsvLine(line: string, lineNo: number, file: string): CsvField[] {
  const fields: CsvField[] = [];
  let i = 0;
  for (;;) {
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    const col = i + 1;
    let text = '';
    let quoted = false;
    if (line[i] === '"') {
      quoted = true;
      i++;
      for (;;) {
        if (i >= line.length) throw new DataError('unterminated quoted field', file, lineNo, col);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            text += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += line[i];
        i++;
      }
      while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
      if (i < line.length && line[i] !== ',') {
        throw new DataError("expected ',' after a quoted field", file, lineNo, i + 1);
      }
    } else {
      const end = line.indexOf(',', i);
      text = (end < 0 ? line.slice(i) : line.slice(i, end)).trimEnd();
      i = end < 0 ? line.length : end;
    }
    fields.push({ text, col, quoted });
    if (i >= line.length) return fields;
    i++; // skip ','
  }
}

/** True for a cell like `1 2 3` or `1;2`: numbers with the wrong separator. */
function wronglySeparated(text: string): boolean {
  const parts = text.trim().split(/[\s;]+/);
  return parts.length > 1 && parts.every((t) => parseNumberToken(t) !== null);
}

function cellError(f: CsvField, lineNo: number, file: string): DataError {
  if (f.text === '') return new DataError('empty field: expected a number', file, lineNo, f.col);
  let msg = `'${f.text}' is not a number`;
  if (wronglySeparated(f.text)) msg += ' (separate values with commas)';
  return new DataError(msg, file, lineNo, f.col);
}

/**
 * Parse CSV text into an array.
 *
 * Format: numbers separated by commas (spaces around them allowed; double-quoted fields are
 * unquoted), one row per line (LF or CRLF). Blank lines and lines whose first non-blank
 * character is `#` are ignored. The first remaining line is a header, and skipped, only if
 * none of its fields is a number. Numbers are decimal (`1`, `-2.5`, `.5`, `3e-4`) or
 * `nan`/`inf`/`infinity` in any case with an optional sign. One column gives shape [rows];
 * more give [rows, cols]. A file without data rows is an error.
 *
 * @example parseCsv('x,y\n1,2\n3,4\n', 'd.csv') // { shape: [2, 2], data: [1, 2, 3, 4] }
 */
export function parseCsv(text: string, file: string): LoadedArray {
  const lines = text.split(/\r\n|\n|\r/);
  const values: number[] = [];
  let cols = -1;
  let rows = 0;
  let sawFirst = false;
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li]!;
    const lineNo = li + 1;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const fields = splitCsvLine(line, lineNo, file);
    const nums = fields.map((f) => parseNumberToken(f.text.trim()));
    if (!sawFirst) {
      sawFirst = true;
      // header row: no field is a number (nor a run of wrongly separated numbers)
      if (nums.every((n, k) => n === null && !wronglySeparated(fields[k]!.text))) continue;
    }
    rows++;
    if (cols < 0) cols = fields.length;
    else if (fields.length !== cols) {
      throw new DataError(`row ${rows} has ${fields.length} values, expected ${cols}`, file, lineNo, 1);
    }
    for (let k = 0; k < fields.length; k++) {
      const n = nums[k];
      if (n === null || n === undefined) throw cellError(fields[k]!, lineNo, file);
      values.push(n);
    }
  }
  if (rows === 0) throw new DataError('the CSV file has no data rows', file);
  return { shape: cols === 1 ? [rows] : [rows, cols], data: Float64Array.from(values) };
}

// ------------------------------------------------------------------------------ .json

function jsonTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '…' : v)})`;
  if (typeof v === 'boolean') return `a boolean (${v})`;
  return typeof v;
}

/** The deepest nesting of JSON arrays and objects a data file may have. */
export const MAX_JSON_DEPTH = 64;

/**
 * The offset of the first '[' or '{' nested deeper than `limit` (outside strings), or −1.
 * Linear, no recursion. @example jsonNestingOffset('[[[1]]]', 2) // 2
 */
export function jsonNestingOffset(s: string, limit: number): number {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34 /* " */) {
      for (i++; i < s.length && s.charCodeAt(i) !== 34; i++) if (s.charCodeAt(i) === 92 /* \ */) i++;
    } else if (c === 91 || c === 123) {
      if (++depth > limit) return i;
    } else if (c === 93 || c === 125) depth--;
  }
  return -1;
}

/**
 * Find the offset of the first syntax error in `s` with a strict RFC 8259 scanner (used only
 * to locate errors whose JSON.parse message carries no position). Returns -1 if none found.
 */
function locateJsonError(s: string): number {
  let i = 0;
  class Stop {
    readonly at: number;
    constructor(at: number) {
      this.at = at;
    }
  }
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  };
  const value = (): void => {
    ws();
    const c = s[i];
    if (c === '{') {
      i++;
      ws();
      if (s[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (s[i] !== '"') throw new Stop(i);
        str();
        ws();
        if (s[i] !== ':') throw new Stop(i);
        i++;
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === '}') {
          i++;
          return;
        }
        throw new Stop(i);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (s[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === ']') {
          i++;
          return;
        }
        throw new Stop(i);
      }
    }
    if (c === '"') return str();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(s.slice(i, i + 400));
    if (!m) throw new Stop(i);
    i += m[0].length;
  };
  const str = () => {
    i++;
    while (i < s.length && s[i] !== '"') {
      const code = s.charCodeAt(i);
      if (code < 0x20) throw new Stop(i);
      if (s[i] === '\\') {
        const e = s[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) throw new Stop(i);
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) throw new Stop(i);
        i += 2;
        continue;
      }
      i++;
    }
    if (i >= s.length) throw new Stop(i);
    i++;
  };
  try {
    value();
    ws();
    return i < s.length ? i : -1;
  } catch (e) {
    if (e instanceof Stop) return e.at;
    throw e;
  }
}

function lineColAt(text: string, offset: number): [number, number] {
  let line = 1;
  let lineStart = 0;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text[k] === '\n') {
      line++;
      lineStart = k + 1;
    }
  }
  return [line, offset - lineStart + 1];
}

/**
 * Parse JSON text into an array. Accepted forms:
 *
 * - a number → a scalar (shape []);
 * - nested arrays of numbers, rectangular → shape from the nesting, e.g. `[[1, 2], [3, 4]]`
 *   → [2, 2] (`[]` → [0]);
 * - an object `{"shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}` with the data flat in row-major
 *   order (no other keys).
 *
 * Errors name the offending element with a path such as `[2][1]` or `data[4]`; malformed
 * JSON is reported with JSON.parse's message and, when it can be located, line and column.
 *
 * @example parseJsonArray('[[1, 2], [3, 4]]', 'x.json') // { shape: [2, 2], data: [1, 2, 3, 4] }
 */
export function parseJsonArray(text: string, file: string): LoadedArray {
  // JSON.parse (and the error locator below) recurse per level of nesting: 10⁵ levels overflow
  // the stack. A tensor has a few axes; deeper nesting is refused, located, before parsing.
  const deep = jsonNestingOffset(text, MAX_JSON_DEPTH);
  if (deep >= 0) {
    const [line, col] = lineColAt(text, deep);
    throw new DataError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels: a data array has at most ${MAX_JSON_DEPTH} axes`, file, line, col);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    let offset = -1;
    const m = /at position (\d+)/.exec(msg);
    if (m) offset = Number(m[1]);
    else offset = locateJsonError(text);
    if (offset >= 0) {
      const [line, col] = lineColAt(text, offset);
      throw new DataError(`malformed JSON: ${msg}`, file, line, col);
    }
    throw new DataError(`malformed JSON: ${msg}`, file);
  }

  if (typeof v === 'number') return { shape: [], data: Float64Array.of(v) };

  if (Array.isArray(v)) {
    const shape: number[] = [];
    let probe: unknown = v;
    while (Array.isArray(probe)) {
      shape.push(probe.length);
      if (probe.length === 0) break;
      probe = probe[0];
    }
    const out = new Float64Array(product(shape));
    let k = 0;
    const walk = (node: unknown, depth: number, path: string): void => {
      if (depth === shape.length) {
        if (typeof node !== 'number') {
          const what = Array.isArray(node) ? 'an array (the array is ragged: nested too deeply here)' : jsonTypeName(node);
          throw new DataError(`expected a number at ${path}, found ${what}`, file);
        }
        out[k++] = node;
        return;
      }
      if (!Array.isArray(node)) {
        throw new DataError(
          `ragged array: expected an array of ${shape[depth]} elements at ${path}, found ${jsonTypeName(node)}`,
          file,
        );
      }
      if (node.length !== shape[depth]) {
        throw new DataError(
          `ragged array: ${path || 'the top level'} has ${node.length} elements, expected ${shape[depth]}`,
          file,
        );
      }
      for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, `${path}[${i}]`);
    };
    walk(v, 0, '');
    return { shape, data: out };
  }

  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (key !== 'shape' && key !== 'data') {
        throw new DataError(`unexpected key "${key}": the object form is {"shape": [...], "data": [...]}`, file);
      }
    }
    if (!('shape' in o) || !('data' in o)) {
      throw new DataError(`missing key "${'shape' in o ? 'data' : 'shape'}": the object form is {"shape": [...], "data": [...]}`, file);
    }
    const sh = o['shape'];
    if (!Array.isArray(sh)) throw new DataError(`"shape" must be an array of integers, found ${jsonTypeName(sh)}`, file);
    sh.forEach((n, i) => {
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
        throw new DataError(`shape[${i}] must be a non-negative integer, found ${typeof n === 'number' ? n : jsonTypeName(n)}`, file);
      }
    });
    const shape = sh as number[];
    let data = o['data'];
    if (typeof data === 'number' && shape.length === 0) data = [data];
    if (!Array.isArray(data)) throw new DataError(`"data" must be a flat array of numbers, found ${jsonTypeName(data)}`, file);
    const need = product(shape);
    if (data.length !== need) {
      throw new DataError(`"data" has ${data.length} values but shape ${shapeStr(shape)} needs ${need}`, file);
    }
    const out = new Float64Array(need);
    data.forEach((x, i) => {
      if (typeof x !== 'number') throw new DataError(`expected a number at data[${i}], found ${jsonTypeName(x)}`, file);
      out[i] = x;
    });
    return { shape: [...shape], data: out };
  }

  throw new DataError(
    `expected a number, an array of numbers or an object {"shape": [...], "data": [...]}, found ${jsonTypeName(v)}`,
    file,
  );
}

// ------------------------------------------------------------------------------ helpers

/**
 * The flat (row-major) index of the first NaN, +Inf or −Inf in `a.data`, or −1 if all values
 * are finite. Combine with `formatIndex` for a message.
 *
 * @example findNonFinite({ shape: [3], data: Float64Array.of(1, NaN, 2) }) // 1
 */
export function findNonFinite(a: LoadedArray): number {
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]!)) return i;
  }
  return -1;
}

/**
 * Format the multi-index of row-major flat index `flat` in an array of `shape`, e.g.
 * `formatIndex([3, 2], 5)` → `"[2, 1]"`; a scalar (shape []) gives `"[]"`.
 * Throws RangeError if `flat` is out of range.
 */
export function formatIndex(shape: number[], flat: number): string {
  const n = product(shape);
  if (!Number.isInteger(flat) || flat < 0 || flat >= n) {
    throw new RangeError(`flat index ${flat} out of range for shape ${shapeStr(shape)}`);
  }
  const idx = new Array<number>(shape.length);
  let r = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = r % shape[d]!;
    r = Math.floor(r / shape[d]!);
  }
  return `[${idx.join(', ')}]`;
}
