/**
 * The one check of a result against memory (`ensureResult`, io/memory.ts): counted where the
 * result goes, the option suggested is the one that fits, and a JSON text past V8's string limit
 * is refused even when the budget would allow it.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { BYTES_PER_VALUE, ensureResult, MAX_STRING_CHARS, MAX_RESULT_BYTES, MemoryError, resultLimit, setMemoryBudget } from '../../src/io/memory.ts';

afterEach(() => setMemoryBudget(null));
const fixes = { toFile: 'use --out K.npy', smaller: 'use --tiles 4 --out K.npy' };

describe('ensureResult', () => {
  test('a result is counted where it goes: file 8, report 16, JSON 66 bytes a value', () => {
    setMemoryBudget(1000 * 66);
    expect(() => ensureResult({ what: 'K', values: 1000, sink: 'json', ...fixes })).not.toThrow();
    expect(() => ensureResult({ what: 'K', values: 1001, sink: 'json', ...fixes })).toThrow(MemoryError);
    expect(BYTES_PER_VALUE).toEqual({ file: 8, report: 16, json: 66 });
    expect(() => ensureResult({ what: 'K', values: (1000 * 66) / 8, sink: 'file', ...fixes })).not.toThrow();
    expect(() => ensureResult({ what: 'K', values: (1000 * 66) / 8 + 1, sink: 'file', ...fixes })).toThrow(/use --tiles 4/);
  });

  test('the option that fits: --out while the values alone fit, else the smaller computation', () => {
    setMemoryBudget(80_000);
    expect(() => ensureResult({ what: 'K', values: 5000, sink: 'report', ...fixes })).not.toThrow();
    expect(() => ensureResult({ what: 'K', values: 5001, sink: 'report', ...fixes })).toThrow(/^K needs 79 kB with its report, more than the --max-memory budget, 79 kB; use --out K\.npy$/);
    expect(() => ensureResult({ what: 'K', values: 20_000, sink: 'json', ...fixes })).toThrow(/; use --tiles 4 --out K\.npy$/);
    // a file written by blocks holds one block (`fileValues`): --out fits
    expect(() => ensureResult({ what: 'J', values: 20_000, sink: 'json', fileValues: 100, ...fixes })).toThrow(/; use --out K\.npy$/);
    // working buffers count too, and are named
    expect(() => ensureResult({ what: 'S', values: 1, sink: 'file', working: 90_000, ...fixes })).toThrow(/S needs 88 kB \(88 kB of it buffers\)/);
  });

  test("a JSON text past V8's longest string is refused whatever the budget, naming --out", () => {
    setMemoryBudget(1e15);
    const values = Math.ceil(MAX_STRING_CHARS / 25) + 1; // ~21.5M values: the NTK of ~4640 outputs
    expect(resultLimit()).toBe(MAX_RESULT_BYTES);
    expect(() => ensureResult({ what: 'K', values, sink: 'json', ...fixes })).toThrow(/its JSON text would pass the 536870888 characters of a JavaScript string; use --out K\.npy/);
    expect(() => ensureResult({ what: 'K', values, sink: 'file', ...fixes })).not.toThrow();
  });
});
