import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  DataError,
  encodeNpy,
  findNonFinite,
  formatIndex,
  loadArray,
  saveNpy,
  type LoadedArray,
} from '../../src/io/data.ts';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-io-data-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(name: string, content: string | Uint8Array): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
}

/** Expect `fn` to throw a DataError; returns it for further checks. */
function dataError(fn: () => unknown): DataError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return e as DataError;
  }
  throw new Error('expected a DataError');
}

// ------------------------------------------------------------------ hand-built .npy files

/** Build a .npy file: magic, version, header length, padded header, payload. */
function npy(
  header: string,
  payload: Uint8Array,
  opts: { major?: number; minor?: number; pad?: boolean } = {},
): Uint8Array {
  const major = opts.major ?? 1;
  const prefix = major === 1 ? 10 : 12;
  let h = header;
  if (opts.pad !== false) {
    const total = Math.ceil((prefix + h.length + 1) / 64) * 64;
    h = h + ' '.repeat(total - prefix - h.length - 1) + '\n';
  }
  const hb = new TextEncoder().encode(h);
  const out = new Uint8Array(prefix + hb.length + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, opts.minor ?? 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, hb.length, true);
  else dv.setUint32(8, hb.length, true);
  out.set(hb, prefix);
  out.set(payload, prefix + hb.length);
  return out;
}

function header(descr: string, shape: string, fortran = false): string {
  return `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
}

type Setter = (dv: DataView, off: number, v: number, le: boolean) => void;
const setters: Record<string, [number, Setter]> = {
  f8: [8, (d, o, v, le) => d.setFloat64(o, v, le)],
  f4: [4, (d, o, v, le) => d.setFloat32(o, v, le)],
  i8: [8, (d, o, v, le) => d.setBigInt64(o, BigInt(v), le)],
  u8: [8, (d, o, v, le) => d.setBigUint64(o, BigInt(v), le)],
  i4: [4, (d, o, v, le) => d.setInt32(o, v, le)],
  u4: [4, (d, o, v, le) => d.setUint32(o, v, le)],
  i2: [2, (d, o, v, le) => d.setInt16(o, v, le)],
  u2: [2, (d, o, v, le) => d.setUint16(o, v, le)],
  i1: [1, (d, o, v) => d.setInt8(o, v)],
  u1: [1, (d, o, v) => d.setUint8(o, v)],
  b1: [1, (d, o, v) => d.setUint8(o, v)],
};

function payload(code: string, values: number[], le: boolean): Uint8Array {
  const [size, set] = setters[code]!;
  const out = new Uint8Array(size * values.length);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => set(dv, i * size, v, le));
  return out;
}

const sampleValues: Record<string, number[]> = {
  f8: [1.5, -2.25, 1e300, -0, 3.141592653589793, 7],
  f4: [1.5, -2.25, 0.5, 1024, -0.125, 7],
  i8: [1, -2, 2 ** 40, -(2 ** 40), 0, 7],
  u8: [1, 2, 2 ** 40, 2 ** 52, 0, 7],
  i4: [1, -2, 2147483647, -2147483648, 0, 7],
  u4: [1, 2, 4294967295, 65536, 0, 7],
  i2: [1, -2, 32767, -32768, 0, 7],
  u2: [1, 2, 65535, 256, 0, 7],
  i1: [1, -2, 127, -128, 0, 7],
  u1: [1, 2, 255, 128, 0, 7],
  b1: [1, 0, 1, 1, 0, 0],
};

describe('.npy reading', () => {
  const cases: [string, string, boolean][] = [];
  for (const code of Object.keys(sampleValues)) {
    const oneByte = code.endsWith('1');
    if (oneByte) cases.push([`|${code}`, code, true]);
    else cases.push([`<${code}`, code, true], [`>${code}`, code, false]);
  }
  test.each(cases)('dtype %s', (descr, code, le) => {
    const values = sampleValues[code]!;
    const p = write(`t_${code}_${le ? 'le' : 'be'}.npy`, npy(header(descr, '(2, 3)'), payload(code, values, le)));
    const a = loadArray(p);
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual(values);
    expect(a.data).toBeInstanceOf(Float64Array);
  });

  test("'=f8' and '|f8' are read as little-endian", () => {
    const vals = [1, 2.5, -3];
    for (const d of ['=f8', '|f8']) {
      const a = loadArray(write(`t_native${d[0] === '=' ? 'eq' : 'bar'}.npy`, npy(header(d, '(3,)'), payload('f8', vals, true))));
      expect(Array.from(a.data)).toEqual(vals);
    }
  });

  test('float16 in both byte orders', () => {
    // 1.0 = 0x3c00, -2.0 = 0xc000, 0.5 = 0x3800, 65504 = 0x7bff, smallest subnormal = 0x0001
    const h = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001];
    for (const le of [true, false]) {
      const a = loadArray(write(`t_f2_${le}.npy`, npy(header(le ? '<f2' : '>f2', '(5,)'), payload('u2', h, le))));
      expect(Array.from(a.data)).toEqual([1, -2, 0.5, 65504, 2 ** -24]);
    }
  });

  test('64-bit integers beyond 2^53 round to the nearest double', () => {
    const bytes = new Uint8Array(16);
    const dv = new DataView(bytes.buffer);
    dv.setBigUint64(0, 2n ** 64n - 1n, true);
    dv.setBigInt64(8, -(2n ** 63n), true);
    const a = loadArray(write('t_big_u8.npy', npy(header('<u8', '(1,)'), bytes.subarray(0, 8))));
    expect(a.data[0]).toBe(2 ** 64);
    const b = loadArray(write('t_big_i8.npy', npy(header('<i8', '(1,)'), bytes.subarray(8))));
    expect(b.data[0]).toBe(-(2 ** 63));
  });

  test('scalar, 1-d, 3-d and empty shapes', () => {
    expect(loadArray(write('t_scalar.npy', npy(header('<f8', '()'), payload('f8', [4.5], true))))).toEqual({
      shape: [],
      data: Float64Array.of(4.5),
    });
    expect(loadArray(write('t_1d.npy', npy(header('<f8', '(2,)'), payload('f8', [1, 2], true)))).shape).toEqual([2]);
    const vals = Array.from({ length: 24 }, (_, i) => i);
    const a = loadArray(write('t_3d.npy', npy(header('<i4', '(2, 3, 4)'), payload('i4', vals, true))));
    expect(a.shape).toEqual([2, 3, 4]);
    expect(Array.from(a.data)).toEqual(vals);
    const e = loadArray(write('t_empty.npy', npy(header('<f8', '(0, 3)'), new Uint8Array(0))));
    expect(e.shape).toEqual([0, 3]);
    expect(e.data.length).toBe(0);
  });

  test('format 2.0 and 3.0 headers', () => {
    const a = loadArray(write('t_v2.npy', npy(header('<f8', '(2,)'), payload('f8', [1, 2], true), { major: 2 })));
    expect(Array.from(a.data)).toEqual([1, 2]);
    const b = loadArray(write('t_v3.npy', npy(header('<f4', '(2,)'), payload('f4', [3, 4], true), { major: 3 })));
    expect(Array.from(b.data)).toEqual([3, 4]);
  });

  test('header variants: key order, double quotes, no trailing comma, no padding, Python 2 longs', () => {
    const vals = payload('f8', [1, 2, 3, 4, 5, 6], true);
    for (const [i, h] of [
      `{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}`,
      `{"descr": "<f8", "fortran_order": False, "shape": (2, 3)}\n`,
      `{'descr':'<f8','fortran_order':False,'shape':(2L, 3L)}`,
    ].entries()) {
      const a = loadArray(write(`t_hv${i}.npy`, npy(h, vals, { pad: false })));
      expect(a.shape).toEqual([2, 3]);
    }
  });

  test('fortran_order True is accepted when the layouts coincide (1-d)', () => {
    const a = loadArray(write('t_f1d.npy', npy(header('<f8', '(3,)', true), payload('f8', [1, 2, 3], true))));
    expect(Array.from(a.data)).toEqual([1, 2, 3]);
  });

  test('trailing bytes after the data are ignored', () => {
    const p = payload('f8', [1, 2, 3], true);
    const a = loadArray(write('t_trailing.npy', npy(header('<f8', '(2,)'), p)));
    expect(Array.from(a.data)).toEqual([1, 2]);
  });
});

describe('.npy errors', () => {
  test('bad magic', () => {
    const e = dataError(() => loadArray(write('bad_magic.npy', 'hello, this is text')));
    expect(e.message).toMatch(/not a \.npy file/);
    expect(e.file).toBe(path.join(dir, 'bad_magic.npy'));
    expect(dataError(() => loadArray(write('empty.npy', ''))).message).toMatch(/not a \.npy file/);
  });

  test('unsupported version', () => {
    const e = dataError(() => loadArray(write('v9.npy', npy(header('<f8', '(1,)'), payload('f8', [1], true), { major: 9 }))));
    expect(e.message).toBe('unsupported .npy format version 9.0 (expected 1.0, 2.0 or 3.0)');
  });

  test('truncated data', () => {
    const e = dataError(() => loadArray(write('trunc.npy', npy(header('<f8', '(3, 4)'), payload('f8', [1, 2, 3, 4, 5], true)))));
    expect(e.message).toBe('truncated .npy file: expected 96 bytes of data, found 40');
  });

  test('truncated header', () => {
    const full = npy(header('<f8', '(3,)'), payload('f8', [1, 2, 3], true));
    const e = dataError(() => loadArray(write('trunc_h.npy', full.subarray(0, 30))));
    expect(e.message).toBe('truncated .npy file: expected 118 bytes of header, found 20');
  });

  test('Fortran order', () => {
    const e = dataError(() => loadArray(write('fortran.npy', npy(header('<f8', '(2, 3)', true), payload('f8', [1, 2, 3, 4, 5, 6], true)))));
    expect(e.message).toBe('Fortran-ordered arrays are not supported: save with np.ascontiguousarray');
  });

  test.each([
    ['<c16', 'complex arrays are not supported'],
    ['<c8', 'complex arrays are not supported'],
    ['|O', 'object arrays are not supported'],
    ['<U5', 'string arrays are not supported'],
    ['|S3', 'string arrays are not supported'],
    ['<M8', 'datetime arrays are not supported'],
    ['|V8', 'void/structured arrays are not supported'],
    ['<f16', 'unsupported dtype'],
    ['<i3', 'unsupported dtype'],
    ['float64', 'unsupported dtype'],
  ])('dtype %s is refused', (descr, why) => {
    const e = dataError(() => loadArray(write('dt.npy', npy(header(descr, '(1,)'), new Uint8Array(16)))));
    expect(e.message).toBe(`${why} (dtype '${descr}'): save the array as float64`);
  });

  test('structured dtype is refused', () => {
    const h = `{'descr': [('x', '<f8'), ('y', '<f8')], 'fortran_order': False, 'shape': (1,), }`;
    const e = dataError(() => loadArray(write('struct.npy', npy(h, new Uint8Array(16)))));
    expect(e.message).toMatch(/^structured \(record\) dtypes are not supported/);
  });

  test.each([
    [`{'descr': '<f8', 'fortran_order': False}`, "missing key 'shape'"],
    [`{'descr': '<f8', 'fortran_order': False, 'shape': (2, -1)}`, "'shape' must be a tuple of non-negative integers"],
    [`{'descr': '<f8', 'fortran_order': False, 'shape': 'x'}`, "'shape' must be a tuple of non-negative integers"],
    [`{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}`, "'fortran_order' must be True or False"],
    [`{'descr': '<f8', 'fortran_order': False, 'shape': (1,)`, 'expected'],
    [`{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} extra`, 'unexpected text'],
    [`['descr', '<f8']`, 'expected a dictionary'],
    [`{'descr: '<f8'}`, 'malformed'],
    [`{descr: '<f8'}`, 'unexpected character'],
  ])('malformed header %s', (h, fragment) => {
    const e = dataError(() => loadArray(write('malformed.npy', npy(h, new Uint8Array(8), { pad: false }))));
    expect(e.message).toMatch(/^malformed \.npy header: /);
    expect(e.message).toContain(fragment);
  });
});

describe('.npy writing', () => {
  test('round trip of several shapes', () => {
    const arrays: LoadedArray[] = [
      { shape: [], data: Float64Array.of(Math.PI) },
      { shape: [0], data: new Float64Array(0) },
      { shape: [5], data: Float64Array.of(1, -0, 1e-310, Number.MAX_VALUE, -Infinity) },
      { shape: [3, 4], data: Float64Array.from({ length: 12 }, (_, i) => i / 7) },
      { shape: [2, 1, 3], data: Float64Array.of(1, 2, 3, 4, 5, NaN) },
    ];
    arrays.forEach((a, i) => {
      const p = path.join(dir, `rt${i}.npy`);
      saveNpy(p, a);
      const b = loadArray(p);
      expect(b.shape).toEqual(a.shape);
      expect(b.data).toEqual(a.data);
      // NaN payload and the sign of zero survive bit-exactly
      expect(new Uint8Array(b.data.buffer)).toEqual(new Uint8Array(a.data.buffer));
    });
  });

  test('the written header is what numpy.save writes', () => {
    const bytes = encodeNpy({ shape: [3, 4], data: new Float64Array(12) });
    expect(bytes.length).toBe(128 + 96);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const hlen = bytes[8]! | (bytes[9]! << 8);
    expect(hlen).toBe(118);
    const h = new TextDecoder().decode(bytes.subarray(10, 10 + hlen));
    expect(h.trimEnd()).toBe("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }");
    expect(h.endsWith('\n')).toBe(true);
    const h1 = new TextDecoder().decode(encodeNpy({ shape: [7], data: new Float64Array(7) }).subarray(10, 128));
    expect(h1).toContain("'shape': (7,)");
    const h0 = new TextDecoder().decode(encodeNpy({ shape: [], data: new Float64Array(1) }).subarray(10, 128));
    expect(h0).toContain("'shape': ()");
  });

  test('saveNpy refuses a data length that does not match the shape, leaving the target alone', () => {
    const p = write('keep.npy', 'old content');
    const e = dataError(() => saveNpy(p, { shape: [2, 2], data: new Float64Array(3) }));
    expect(e.message).toBe('shape [2, 2] needs 4 values but the data has 3');
    expect(fs.readFileSync(p, 'utf8')).toBe('old content');
  });

  test('saveNpy into a missing directory is a DataError', () => {
    const p = path.join(dir, 'no', 'such', 'dir', 'x.npy');
    const e = dataError(() => saveNpy(p, { shape: [1], data: Float64Array.of(1) }));
    expect(e.message).toBe(`cannot write '${p}': no such directory`);
  });
});

// ------------------------------------------------------------------ CSV

describe('.csv', () => {
  test('plain matrix with spaces and CRLF', () => {
    const a = loadArray(write('m.csv', '1, 2, 3\r\n4,5 ,6\r\n'));
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('header, comments and blank lines are skipped', () => {
    const a = loadArray(write('h.csv', '# produced by a script\n\nx, y\n# a comment\n1,2\n\n  3e-1 , -.5\n'));
    expect(a.shape).toEqual([2, 2]);
    expect(Array.from(a.data)).toEqual([1, 2, 0.3, -0.5]);
  });

  test('quoted header and quoted numbers', () => {
    const a = loadArray(write('q.csv', '"x","y, the second"\n"1",2\n'));
    expect(a.shape).toEqual([1, 2]);
    expect(Array.from(a.data)).toEqual([1, 2]);
  });

  test('a single column gives a 1-d array (with or without header)', () => {
    expect(loadArray(write('c1.csv', '1\n2\n3\n'))).toEqual({ shape: [3], data: Float64Array.of(1, 2, 3) });
    expect(loadArray(write('c1h.csv', 'value\n1\n2\n')).shape).toEqual([2]);
  });

  test('nan and inf spellings are parsed', () => {
    const a = loadArray(write('nan.csv', 'nan,NaN,inf\n-inf,+Infinity,-INF\n'));
    expect(Array.from(a.data)).toEqual([NaN, NaN, Infinity, -Infinity, Infinity, -Infinity]);
    expect(findNonFinite(a)).toBe(0);
  });

  test('a row of nan/inf only is data, not a header', () => {
    const a = loadArray(write('naninf.csv', 'nan,inf\n1,2\n'));
    expect(a.shape).toEqual([2, 2]);
  });

  test('ragged rows', () => {
    const e = dataError(() => loadArray(write('ragged.csv', 'a,b,c\n1,2,3\n# c\n4,5,6\n7,8\n')));
    expect(e.message).toBe('row 3 has 2 values, expected 3');
    expect(e.line).toBe(5);
  });

  test('a non-numeric cell is located by line and column', () => {
    const e = dataError(() => loadArray(write('bad.csv', '1,2,3\n4, abc,6\n')));
    expect(e.message).toBe("'abc' is not a number");
    expect([e.line, e.col]).toEqual([2, 4]);
  });

  test('a mixed first row is data, so its text cell is an error', () => {
    const e = dataError(() => loadArray(write('mixed.csv', 'x,2\n1,2\n')));
    expect(e.message).toBe("'x' is not a number");
    expect([e.line, e.col]).toEqual([1, 1]);
  });

  test('a header after data is an error, not skipped', () => {
    const e = dataError(() => loadArray(write('late.csv', '1,2\nx,y\n')));
    expect(e.message).toBe("'x' is not a number");
    expect(e.line).toBe(2);
  });

  test('empty fields, space-separated values, strict number syntax', () => {
    let e = dataError(() => loadArray(write('emptyf.csv', '1,,3\n')));
    expect(e.message).toBe('empty field: expected a number');
    expect([e.line, e.col]).toEqual([1, 3]);
    e = dataError(() => loadArray(write('trail.csv', '1,2,\n')));
    expect(e.message).toBe('empty field: expected a number');
    e = dataError(() => loadArray(write('spaces.csv', '1 2 3\n4 5 6\n')));
    expect(e.message).toBe("'1 2 3' is not a number (separate values with commas)");
    for (const bad of ['0x10', '1_000', '1e', '--1', '1.2.3']) {
      expect(dataError(() => loadArray(write('strict.csv', `1,${bad}\n`))).message).toBe(`'${bad}' is not a number`);
    }
  });

  test('unterminated quote', () => {
    const e = dataError(() => loadArray(write('uq.csv', '1,"2\n')));
    expect(e.message).toBe('unterminated quoted field');
    expect([e.line, e.col]).toEqual([1, 3]);
  });

  test('no data rows', () => {
    expect(dataError(() => loadArray(write('none.csv', '# nothing\n\n'))).message).toBe('the CSV file has no data rows');
    expect(dataError(() => loadArray(write('onlyh.csv', 'x,y\n'))).message).toBe('the CSV file has no data rows');
  });

  test('a UTF-8 byte order mark is ignored', () => {
    expect(loadArray(write('bom.csv', '\ufeffx\n1\n')).shape).toEqual([1]);
  });
});

// ------------------------------------------------------------------ JSON

describe('.json', () => {
  test('scalar, nested arrays, empty arrays', () => {
    expect(loadArray(write('s.json', ' 2.5 '))).toEqual({ shape: [], data: Float64Array.of(2.5) });
    expect(loadArray(write('v.json', '[1, 2, 3]'))).toEqual({ shape: [3], data: Float64Array.of(1, 2, 3) });
    const m = loadArray(write('m.json', '[[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]]'));
    expect(m.shape).toEqual([2, 3, 2]);
    expect(Array.from(m.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(loadArray(write('e.json', '[]')).shape).toEqual([0]);
    expect(loadArray(write('e2.json', '[[], []]')).shape).toEqual([2, 0]);
  });

  test('object form', () => {
    const a = loadArray(write('o.json', '{"shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}'));
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(loadArray(write('o0.json', '{"data": 7, "shape": []}'))).toEqual({ shape: [], data: Float64Array.of(7) });
  });

  test('ragged nesting is located by a JSON path', () => {
    expect(dataError(() => loadArray(write('r1.json', '[[1, 2], [3]]'))).message).toBe(
      'ragged array: [1] has 1 elements, expected 2',
    );
    expect(dataError(() => loadArray(write('r2.json', '[[1, 2], 3]'))).message).toBe(
      'ragged array: expected an array of 2 elements at [1], found number',
    );
    expect(dataError(() => loadArray(write('r3.json', '[[1, 2], [3, [4]]]'))).message).toBe(
      'expected a number at [1][1], found an array (the array is ragged: nested too deeply here)',
    );
  });

  test('non-numbers are located by a JSON path', () => {
    expect(dataError(() => loadArray(write('n1.json', '[[1, 2], [3, 4], [5, "x"]]'))).message).toBe(
      'expected a number at [2][1], found a string ("x")',
    );
    expect(dataError(() => loadArray(write('n2.json', '[1, null]'))).message).toBe('expected a number at [1], found null');
    expect(dataError(() => loadArray(write('n3.json', '[true]'))).message).toBe(
      'expected a number at [0], found a boolean (true)',
    );
    expect(dataError(() => loadArray(write('n4.json', '"hello"'))).message).toBe(
      'expected a number, an array of numbers or an object {"shape": [...], "data": [...]}, found a string ("hello")',
    );
  });

  test('object form errors', () => {
    const msg = (t: string) => dataError(() => loadArray(write('oe.json', t))).message;
    expect(msg('{"shape": [2]}')).toBe('missing key "data": the object form is {"shape": [...], "data": [...]}');
    expect(msg('{"data": [1]}')).toBe('missing key "shape": the object form is {"shape": [...], "data": [...]}');
    expect(msg('{"shape": [1], "data": [1], "dtype": "f8"}')).toBe(
      'unexpected key "dtype": the object form is {"shape": [...], "data": [...]}',
    );
    expect(msg('{"shape": [2, 3], "data": [1, 2, 3, 4, 5]}')).toBe('"data" has 5 values but shape [2, 3] needs 6');
    expect(msg('{"shape": [2, -1], "data": []}')).toBe('shape[1] must be a non-negative integer, found -1');
    expect(msg('{"shape": [1.5], "data": []}')).toBe('shape[0] must be a non-negative integer, found 1.5');
    expect(msg('{"shape": 3, "data": [1, 2, 3]}')).toBe('"shape" must be an array of integers, found number');
    expect(msg('{"shape": [2], "data": [1, "2"]}')).toBe('expected a number at data[1], found a string ("2")');
    expect(msg('{"shape": [2], "data": [[1, 2]]}')).toBe('"data" has 1 values but shape [2] needs 2');
  });

  test('malformed JSON reports the parser message and a line:col', () => {
    let e = dataError(() => loadArray(write('bad1.json', '[1, 2,\n 3,\n  ]')));
    expect(e.message).toMatch(/^malformed JSON: /);
    expect([e.line, e.col]).toEqual([3, 3]);
    e = dataError(() => loadArray(write('bad2.json', '[1, 2')));
    expect(e.message).toMatch(/^malformed JSON: /);
    expect([e.line, e.col]).toEqual([1, 6]);
    e = dataError(() => loadArray(write('bad3.json', '{"shape": [1],\n "data": [NaN]}')));
    expect([e.line, e.col]).toEqual([2, 11]);
    e = dataError(() => loadArray(write('bad4.json', '')));
    expect(e.message).toMatch(/^malformed JSON: /);
    expect([e.line, e.col]).toEqual([1, 1]);
  });
});

// ------------------------------------------------------------------ dispatch and I/O errors

describe('loadArray', () => {
  test('unsupported extension', () => {
    const p = write('x.xyz', '1');
    const e = dataError(() => loadArray(p));
    expect(e.message).toBe("unsupported data format '.xyz': use .npy, .csv or .json");
    expect(e.file).toBe(p);
    expect(dataError(() => loadArray(write('noext', '1'))).message).toBe(
      'unsupported data format (no file extension): use .npy, .csv or .json',
    );
  });

  test('extension match is case-insensitive', () => {
    expect(loadArray(write('UP.CSV', '1\n2\n')).shape).toEqual([2]);
  });

  test('missing file', () => {
    const p = path.join(dir, 'X.npy');
    const e = dataError(() => loadArray(p));
    expect(e.message).toBe(`cannot read '${p}': no such file`);
    expect(e.file).toBe(p);
  });

  test('a directory', () => {
    const p = path.join(dir, 'adir.csv');
    fs.mkdirSync(p);
    expect(dataError(() => loadArray(p)).message).toBe(`cannot read '${p}': it is a directory`);
  });

  test('unreadable file', () => {
    if (process.platform === 'win32' || process.getuid?.() === 0) return; // root reads anything
    const p = write('secret.json', '[1]');
    fs.chmodSync(p, 0o000);
    try {
      expect(dataError(() => loadArray(p)).message).toBe(`cannot read '${p}': permission denied`);
    } finally {
      fs.chmodSync(p, 0o644);
    }
  });

  test('invalid UTF-8 text', () => {
    expect(dataError(() => loadArray(write('latin.csv', Uint8Array.of(0x31, 0x0a, 0xff, 0x0a)))).message).toBe(
      'the file is not valid UTF-8 text',
    );
  });
});

describe('findNonFinite and formatIndex', () => {
  test('findNonFinite', () => {
    expect(findNonFinite({ shape: [3], data: Float64Array.of(1, 2, 3) })).toBe(-1);
    expect(findNonFinite({ shape: [2, 2], data: Float64Array.of(1, 2, -Infinity, NaN) })).toBe(2);
    expect(findNonFinite({ shape: [0], data: new Float64Array(0) })).toBe(-1);
  });

  test('formatIndex', () => {
    expect(formatIndex([3, 2], 5)).toBe('[2, 1]');
    expect(formatIndex([4], 3)).toBe('[3]');
    expect(formatIndex([2, 3, 4], 23)).toBe('[1, 2, 3]');
    expect(formatIndex([2, 3, 4], 13)).toBe('[1, 0, 1]');
    expect(formatIndex([], 0)).toBe('[]');
    expect(() => formatIndex([2, 2], 4)).toThrow(RangeError);
    expect(() => formatIndex([2, 2], -1)).toThrow(RangeError);
  });
});
