/**
 * The writers of `--out` (io/arrays.ts): .npy byte for byte against the format's specification,
 * every format read back by the project's own reader (`loadArray`), streamed blocks, atomicity,
 * and the checks of an output path before any work.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { arrayFormat, arrayPaths, checkArrayOut, csvNumber, writeArrays } from '../../src/io/arrays.ts';
import { OutputPathError } from '../../src/io/atomic.ts';
import { loadArray } from '../../src/io/data.ts';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-io-arrays-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const at = (name: string) => path.join(dir, name);
const leftovers = () => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

/** Awkward float64 values: thirds, tiny and huge magnitudes, −0, integers. */
const values = (n: number) => Float64Array.from({ length: n }, (_, i) => [1 / 3, -0, 1e-300, -2.5e300, 0.1, 7, Math.PI * 1e-7, -1 / 7][i % 8]! * (1 + i));

describe('.npy', () => {
  test('the header is the format 1.0 header byte for byte: magic, version, length, dict, spaces to 64, newline', () => {
    const file = at('h.npy');
    writeArrays(file, [{ key: 'K', shape: [3, 4], data: values(12) }], true);
    const bytes = fs.readFileSync(file);
    // NumPy format spec: \x93NUMPY, major 1, minor 0, header length (uint16 little-endian), then an
    // ASCII dict literal padded with spaces and ended by '\n' so that magic + length + header is a
    // multiple of 64; numpy leaves 21 − len(str(shape[0])) spaces of room to grow axis 0 first.
    const dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }";
    expect(dict.length).toBe(59);
    // 10 + 59 + 20 (growth room) + 38 (padding) + 1 (newline) = 128 = 2·64
    const header = dict + ' '.repeat(20 + 38) + '\n';
    const expected = Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY', 'latin1'), Buffer.from([1, 0, header.length & 0xff, header.length >> 8]), Buffer.from(header, 'latin1')]);
    expect(header.length).toBe(118);
    expect(bytes.subarray(0, 128).equals(expected)).toBe(true);
    expect(bytes.length).toBe(128 + 8 * 12);
    // the data: little-endian float64, C order
    const back = new Float64Array(bytes.buffer.slice(bytes.byteOffset + 128, bytes.byteOffset + bytes.length));
    expect(Array.from(back)).toEqual(Array.from(values(12)));
  });

  test('a vector and a scalar: (n,) and () in the dict, still 64-aligned', () => {
    writeArrays(at('v.npy'), [{ key: 'K', shape: [5], data: values(5) }], true);
    writeArrays(at('s.npy'), [{ key: 'K', shape: [], data: [2.5] }], true);
    for (const [f, tuple] of [['v.npy', '(5,)'], ['s.npy', '()']] as const) {
      const b = fs.readFileSync(at(f));
      const len = b[8]! | (b[9]! << 8);
      const text = b.subarray(10, 10 + len).toString('latin1');
      expect(text.startsWith(`{'descr': '<f8', 'fortran_order': False, 'shape': ${tuple}, }`)).toBe(true);
      expect((10 + len) % 64).toBe(0);
      expect(/^\{[^\n]*\} +\n$/.test(text)).toBe(true);
    }
    expect(loadArray(at('s.npy'))).toEqual({ shape: [], data: Float64Array.of(2.5) });
  });
});

describe('round trips through loadArray', () => {
  const shapes = [[], [1], [6], [3, 4], [2, 3, 2], [1, 1]];
  for (const format of ['npy', 'csv', 'json'] as const) {
    test(`.${format}: every value back bit for bit`, () => {
      for (const shape of shapes) {
        const n = shape.reduce((a, b) => a * b, 1);
        const file = at(`r${shape.join('x')}.${format}`);
        const data = values(n);
        writeArrays(file, [{ key: 'K', shape, data }], true);
        const back = loadArray(file);
        // CSV has rows and columns: a scalar is one line, more than two axes are rows of the last
        const cols = shape.length >= 2 ? shape.at(-1)! : 1;
        const want = format !== 'csv' ? shape : cols === 1 ? [n] : [n / cols, cols];
        expect(back.shape, `${format} [${shape}]`).toEqual(want);
        for (let i = 0; i < n; i++) expect(Object.is(back.data[i], data[i]), `${format} [${shape}] value ${i}: ${back.data[i]} ≠ ${data[i]}`).toBe(true);
      }
    });
  }

  test('NaN and ±inf: nan/inf/-inf in CSV (read back), null in JSON', () => {
    const data = Float64Array.of(NaN, Infinity, -Infinity, 1);
    writeArrays(at('nf.csv'), [{ key: 'K', shape: [2, 2], data }], true);
    expect(fs.readFileSync(at('nf.csv'), 'utf8')).toBe('nan,inf\n-inf,1\n');
    const back = loadArray(at('nf.csv')).data;
    expect(Number.isNaN(back[0])).toBe(true);
    expect(Array.from(back.subarray(1))).toEqual([Infinity, -Infinity, 1]);
    writeArrays(at('nf.json'), [{ key: 'K', shape: [2, 2], data }], true);
    expect(JSON.parse(fs.readFileSync(at('nf.json'), 'utf8'))).toEqual([[null, null], [null, 1]]);
    expect(csvNumber(-0)).toBe('-0');
  });

  test('a table: a header line of column names (skipped by the reader), the values below', () => {
    writeArrays(at('t.csv'), [{ key: 'trajectory', shape: [2, 3], data: [0.5, 1, 2, 1, 0.25, 3], columns: ['t', 'error', 'weightChange'] }], true);
    expect(fs.readFileSync(at('t.csv'), 'utf8')).toBe('t,error,weightChange\n0.5,1,2\n1,0.25,3\n');
    expect(loadArray(at('t.csv'))).toEqual({ shape: [2, 3], data: Float64Array.of(0.5, 1, 2, 1, 0.25, 3) });
  });

  test('empty axes: [] nested as far as they reach', () => {
    writeArrays(at('e.json'), [{ key: 'K', shape: [2, 0], data: [] }], true);
    expect(fs.readFileSync(at('e.json'), 'utf8')).toBe('[[],[]]\n');
  });
});

describe('streaming and atomicity', () => {
  test('blocks from a generator are written as they come, in any sizes, in every format', () => {
    const n = 70_001; // more than one internal block
    const all = values(n);
    for (const format of ['npy', 'csv', 'json'] as const) {
      let pulled = 0;
      const gen = (function* () {
        for (let i = 0; i < n; i += 9_999) {
          pulled++;
          yield all.slice(i, Math.min(n, i + 9_999));
        }
      })();
      const [f] = writeArrays(at(`g.${format}`), [{ key: 'J', shape: [n], data: gen }], true);
      expect(pulled).toBe(Math.ceil(n / 9_999));
      expect(f).toEqual({ key: 'J', path: at(`g.${format}`), shape: [n], dtype: 'float64' });
      expect(Array.from(loadArray(at(`g.${format}`)).data)).toEqual(Array.from(all));
    }
  });

  test('a write that fails mid-way leaves the old files as they were, and no temporary file', () => {
    fs.writeFileSync(at('old.nngp.npy'), 'old nngp');
    fs.writeFileSync(at('old.ntk.npy'), 'old ntk');
    const failing = (function* () {
      yield Float64Array.of(1, 2);
      throw new Error('the computation failed');
    })();
    expect(() => writeArrays(at('old.npy'), [{ key: 'nngp', shape: [2], data: [1, 2] }, { key: 'ntk', shape: [4], data: failing }], false)).toThrow(/the computation failed/);
    expect(fs.readFileSync(at('old.nngp.npy'), 'utf8')).toBe('old nngp');
    expect(fs.readFileSync(at('old.ntk.npy'), 'utf8')).toBe('old ntk');
    expect(leftovers()).toEqual([]);
    // too few values for the shape: refused, nothing replaced
    expect(() => writeArrays(at('old.npy'), [{ key: 'nngp', shape: [3], data: [1, 2] }], false)).toThrow(/2 values for the shape \[3\]/);
    expect(fs.readFileSync(at('old.nngp.npy'), 'utf8')).toBe('old nngp');
    expect(leftovers()).toEqual([]);
  });

  test('several arrays: <stem>.<key>.<ext>, committed together', () => {
    const files = writeArrays(at('K.json'), [{ key: 'nngp', shape: [1], data: [1] }, { key: 'ntk', shape: [1], data: [2] }], false);
    expect(files.map((f) => f.path)).toEqual([at('K.nngp.json'), at('K.ntk.json')]);
    expect(arrayPaths('a/b.c/K.npy', ['x'], false)).toEqual(['a/b.c/K.x.npy']);
    expect(arrayPaths('K.npy', ['K'], true)).toEqual(['K.npy']);
  });
});

describe('checkArrayOut: before any work', () => {
  test('an unknown extension, a missing directory, a directory in the way: OutputPathError', () => {
    expect(arrayFormat('x.JSON')).toBe('json');
    expect(() => checkArrayOut(at('K.txt'), ['K'], true)).toThrow(OutputPathError);
    expect(() => checkArrayOut(at('K.txt'), ['K'], true)).toThrow(/expected a file name ending in \.npy, \.csv or \.json/);
    expect(() => checkArrayOut(at('missing/K.npy'), ['K'], true)).toThrow(/no such directory/);
    fs.mkdirSync(at('D.ntk.npy'));
    expect(() => checkArrayOut(at('D.npy'), ['nngp', 'ntk'], false)).toThrow(/D\.ntk\.npy: it is a directory/);
    expect(() => checkArrayOut(at('K.csv'), ['K'], true, { formats: ['npy'] })).toThrow(/ending in \.npy$/);
    expect(() => checkArrayOut(at('K.npy'), ['K'], true)).not.toThrow();
  });
});
