/**
 * Large Float64Arrays on huge pages.
 *
 * The first write to each 4 kB page of a fresh array is a page fault. On the virtual machines
 * this project runs on, a fault costs ~10 µs, so merely filling a fresh 2000 × 2000 kernel
 * (32 MB, 8192 pages) once took ~100 ms, against 3 ms for the same loop over the same array a
 * second time: the infinite-width recursion, which makes a few dozen such matrices, spent more
 * time in faults than in arithmetic. A large array is calloc'd by V8 into fresh, untouched
 * memory; advising its 2 MB-aligned interior for transparent huge pages (the native addon's
 * `adviseHuge`, madvise MADV_HUGEPAGE) makes 512 times fewer faults: the same first fill takes
 * ~11 ms. The memory stays V8's, allocated and freed as any array's. Where the addon is absent
 * or cannot (not Linux, THP disabled), the pages are ordinary and nothing else changes.
 */
import { nativeAddon } from './backend-native.ts';

/** Below this many bytes, no advice: a huge page is 2 MB, and small arrays reuse V8's pages. */
export const HUGE_MIN_BYTES = 4 << 20;

/**
 * `new Float64Array(n)` (zeroed), its interior advised for huge pages when it is at least
 * `HUGE_MIN_BYTES` and the native addon can.
 * @example const K = zerosF64(2000 * 2000); // 32 MB, first filled in ~11 ms instead of ~100 ms
 */
export function zerosF64(n: number): Float64Array {
  const a = new Float64Array(n);
  if (n * 8 >= HUGE_MIN_BYTES) nativeAddon()?.adviseHuge?.(a);
  return a;
}

/** Poison freed arrays with NaN: under vitest, or with NTK_POOL_POISON=1. */
const POISON = typeof process !== 'undefined' && (process.env.VITEST !== undefined || process.env.NTK_POOL_POISON === '1');

/**
 * Zeroed Float64Arrays recycled within one computation that makes many large arrays of a few
 * lengths, few of them alive at once — the infinite-width recursion makes ~30 N × N kernels of
 * which ~8 are alive at a time. A fresh array costs its page faults (see `zerosF64`: ~25 ms for
 * 32 MB here even on huge pages) and later a garbage collection to return it; a recycled one
 * costs a `fill(0)` (~3 ms).
 *
 * Nothing is freed by hand: the owner calls `sweep(live)` at a point where `live` names every
 * array of the pool that is still held (reachability, so arrays shared between holders are
 * safe), and every other array it handed out is free for reuse. Under the tests (or with
 * NTK_POOL_POISON=1) a freed array is filled with NaN, so that a root missing from `live` shows
 * as NaN in a kernel instead of as silently wrong numbers.
 * @example
 *   const pool = new F64Pool();
 *   let a = pool.zeros(4e6), b = pool.zeros(4e6);
 *   pool.sweep([b]);          // a is free again
 *   pool.zeros(4e6) === a;    // true, zeroed
 */
export class F64Pool {
  private readonly held = new Set<Float64Array>();
  private readonly free = new Map<number, Float64Array[]>();
  /** Arrays allocated fresh and handed out again: the pool's effect, for tests and notes. */
  fresh = 0;
  reused = 0;
  /** Handed-out arrays since the last sweep: a sweep before any is a no-op. */
  sinceSweep = 0;

  /** A zeroed array of length n: a free one of that length when there is one, else `zerosF64(n)`. */
  zeros(n: number): Float64Array {
    const a = this.free.get(n)?.pop();
    if (a) {
      a.fill(0);
      this.reused++;
    } else this.fresh++;
    const r = a ?? zerosF64(n);
    this.held.add(r);
    this.sinceSweep++;
    return r;
  }

  /** Every array handed out and not in `live` becomes free (and, under the tests, NaN). */
  sweep(live: Iterable<Float64Array | null | undefined>): void {
    const keep = new Set(live);
    for (const a of this.held) {
      if (keep.has(a)) continue;
      this.held.delete(a);
      if (POISON) a.fill(NaN);
      const list = this.free.get(a.length);
      if (list) list.push(a);
      else this.free.set(a.length, [a]);
    }
    this.sinceSweep = 0;
  }

  /** Arrays handed out and not yet swept free. */
  get holding(): number {
    return this.held.size;
  }
}
