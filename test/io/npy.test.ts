import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NpyWriter, npyHeader, writeNpy } from '../../src/io/npy.ts';
import { parseNpy, loadArray } from '../../src/io/data.ts';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-io-npy-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * Lengths of the headers numpy 2.4 writes (`numpy.lib._format_impl._write_array_header` with
 * descr '<f8', C order), printed by numpy on this project's development machine. The header's
 * text is the dict, spaces and a newline, so its length pins every byte but the dict's own.
 */
const NUMPY_HEADER_LENGTHS: [number[], number][] = [
  [[], 128], [[0], 128], [[7], 128], [[3, 4], 128], [[4096, 4096], 128], [[2, 3, 4], 128], [[123456789012, 2], 128], [[1e15], 128],
  ...Array.from({ length: 40 }, (_, i): [number[], number] => [Array(i + 1).fill(3), i + 1 <= 14 ? 128 : i + 1 <= 35 ? 192 : 256]),
  [[12345, 12345, 12345, 12345, 12345], 128], [Array(6).fill(12345), 128], [Array(7).fill(12345), 192], [Array(8).fill(12345), 192],
];

describe('npyHeader', () => {
  test("is numpy's header: length (growth room of axis 0 and 1..64 spaces of padding), dict, newline", () => {
    for (const [shape, len] of NUMPY_HEADER_LENGTHS) {
      const h = npyHeader(shape);
      expect(h.length, `shape [${shape}]`).toBe(len);
      expect(Array.from(h.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      expect(h[8]! | (h[9]! << 8)).toBe(len - 10);
      const text = new TextDecoder('latin1').decode(h.subarray(10));
      const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
      expect(text.startsWith(`{'descr': '<f8', 'fortran_order': False, 'shape': ${tuple}, }`)).toBe(true);
      expect(text.endsWith(' \n')).toBe(true); // at least one space of padding, as numpy
      expect(/^[^\n]*\n$/.test(text)).toBe(true);
    }
  });

  test('is parsed back by the project reader with the same shape', () => {
    for (const [shape] of NUMPY_HEADER_LENGTHS.filter(([s]) => s.reduce((a, b) => a * b, 1) < 1e4)) {
      const n = shape.reduce((a, b) => a * b, 1);
      const bytes = new Uint8Array([...npyHeader(shape), ...new Uint8Array(8 * n)]);
      expect(parseNpy(bytes, 'x.npy').shape).toEqual(shape);
    }
  });

  test('refuses a shape that is not non-negative integers', () => {
    expect(() => npyHeader([2, -1])).toThrow(/non-negative integers/);
    expect(() => npyHeader([1.5])).toThrow(/non-negative integers/);
  });
});

describe('NpyWriter', () => {
  test('blocks written in any order give the array, read back bit for bit', () => {
    const n = 37, m = 23;
    const data = Float64Array.from({ length: n * m }, (_, i) => Math.sin(i) * 1e-300 * (i % 3 === 0 ? -1 : 1e300));
    data[5] = NaN;
    data[6] = -0;
    data[7] = -Infinity;
    const p = path.join(dir, 'blocks.npy');
    const w = NpyWriter.create(p, [n, m]);
    // rows in reverse order, in uneven pieces
    for (let r = n - 1; r >= 0; r--) {
      w.write(r * m + 10, data.subarray(r * m + 10, (r + 1) * m));
      w.write(r * m, data.subarray(r * m, r * m + 10));
    }
    expect(fs.existsSync(p)).toBe(false); // nothing visible before commit
    w.commit();
    const back = loadArray(p);
    expect(back.shape).toEqual([n, m]);
    expect(new Uint8Array(back.data.buffer)).toEqual(new Uint8Array(data.buffer));
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('writeBlock places a block and its transpose (a symmetric matrix from its upper tiles)', () => {
    const k = 7, B = [0, 3, 7];
    const K = new Float64Array(k * k);
    for (let a = 0; a < k; a++) for (let b = a; b < k; b++) K[a * k + b] = K[b * k + a] = a * 10 + b + 0.25;
    const p = path.join(dir, 'sym.npy');
    const w = NpyWriter.create(p, [k, k]);
    for (let i = 0; i < 2; i++)
      for (let j = i; j < 2; j++) {
        const [r0, r1, c0, c1] = [B[i]!, B[i + 1]!, B[j]!, B[j + 1]!];
        const tile = new Float64Array((r1 - r0) * (c1 - c0));
        for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) tile[(r - r0) * (c1 - c0) + c - c0] = K[r * k + c]!;
        w.writeBlock(r0, c0, r1 - r0, c1 - c0, tile);
        if (i !== j) w.writeBlock(c0, r0, c1 - c0, r1 - r0, tile, true);
      }
    w.commit();
    expect(loadArray(p).data).toEqual(K);
  });

  test('append continues after the last block; a block outside the array aborts, leaving no file', () => {
    const p = path.join(dir, 'append.npy');
    const w = NpyWriter.create(p, [2, 3]);
    w.append(Float64Array.of(1, 2));
    w.append(Float64Array.of(3, 4, 5, 6));
    w.commit();
    expect(Array.from(loadArray(p).data)).toEqual([1, 2, 3, 4, 5, 6]);
    const q = path.join(dir, 'outside.npy');
    const v = NpyWriter.create(q, [2]);
    expect(() => v.write(1, Float64Array.of(1, 2))).toThrow(/outside the array of 2/);
    expect(fs.existsSync(q)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('an abandoned writer leaves the old file in place', () => {
    const p = path.join(dir, 'old.npy');
    writeNpy(p, [2], Float64Array.of(1, 2));
    const w = NpyWriter.create(p, [3]);
    w.write(0, Float64Array.of(7, 8, 9));
    w.abort();
    expect(Array.from(loadArray(p).data)).toEqual([1, 2]);
    expect(() => w.commit()).toThrow(/already aborted/);
  });

  test('writeNpy refuses data that does not fill the shape', () => {
    expect(() => writeNpy(path.join(dir, 'bad.npy'), [2, 2], new Float64Array(3))).toThrow('needs 4 values but the data has 3');
  });
});

const numpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!numpy)('against numpy itself (python3 with numpy on this machine)', () => {
  test('numpy.save writes the same bytes, and numpy.load reads ours (also memory-mapped)', () => {
    const shapes = [[], [0], [5], [3, 4], [2, 3, 4], Array(15).fill(1), [1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2]];
    shapes.forEach((shape, s) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float64Array.from({ length: n }, (_, i) => i / 3 - 1);
      writeNpy(path.join(dir, `ours${s}.npy`), shape, data);
    });
    const script = `
import numpy as np, sys, os
d = sys.argv[1]
for s in range(${shapes.length}):
    ours = os.path.join(d, f'ours{s}.npy')
    a = np.load(ours)
    m = np.load(ours, mmap_mode='r')
    assert (np.asarray(m) == a).all()
    np.save(os.path.join(d, f'theirs{s}.npy'), a)
    n = a.size
    assert (a.ravel() == np.arange(n) / 3 - 1).all(), s
print('ok')
`;
    const r = spawnSync('python3', ['-c', script, dir], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('ok');
    shapes.forEach((_, s) => {
      expect(fs.readFileSync(path.join(dir, `ours${s}.npy`)).equals(fs.readFileSync(path.join(dir, `theirs${s}.npy`)))).toBe(true);
    });
  });
});
