/**
 * The recycling pool of large Float64Arrays (runtime/alloc.ts `F64Pool`): arrays not named live
 * at a sweep are handed out again, zeroed; under the tests a swept array is NaN, the safety net
 * that makes a holder missing from a sweep (the infinite-width recursion's `Deriver.sweep`) fail
 * loudly instead of giving wrong kernels.
 */
import { describe, expect, it } from 'vitest';
import { F64Pool } from '../../src/runtime/alloc.ts';

describe('F64Pool', () => {
  it('hands a swept array out again, zeroed; a live one never', () => {
    const pool = new F64Pool();
    const a = pool.zeros(1000).fill(3), b = pool.zeros(1000).fill(4);
    expect(pool.fresh).toBe(2);
    pool.sweep([b]);
    expect(pool.holding).toBe(1);
    const c = pool.zeros(1000);
    expect(c).toBe(a);
    expect(c.every((x) => x === 0)).toBe(true);
    expect(b.every((x) => x === 4)).toBe(true);
    expect(pool.zeros(1000)).not.toBe(b);
    expect([pool.fresh, pool.reused]).toEqual([3, 1]);
  });
  it('keeps lengths apart, and an array shared by two holders is live through either', () => {
    const pool = new F64Pool();
    const a = pool.zeros(10), b = pool.zeros(20);
    const holders = { x: a, y: a };
    pool.sweep([holders.y]);
    expect(pool.zeros(10)).not.toBe(a);
    pool.sweep([]);
    expect(pool.zeros(20)).toBe(b);
  });
  it('poisons a swept array with NaN under the tests', () => {
    const pool = new F64Pool();
    const a = pool.zeros(16).fill(1);
    pool.sweep([null, undefined]);
    expect(a.every((x) => Number.isNaN(x))).toBe(true);
    expect(pool.sinceSweep).toBe(0);
  });
});
