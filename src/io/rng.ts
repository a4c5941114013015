/**
 * A seeded pseudo-random generator whose output is bit-for-bit identical on every platform.
 *
 * ## Algorithm
 *
 * - **xoshiro256\*\*** 1.0 (Blackman & Vigna, public-domain reference `xoshiro256starstar.c`):
 *   a 256-bit state `s[0..3]` of 64-bit words; each step
 *
 *       result = rotl(s[1] * 5, 7) * 9
 *       t = s[1] << 17
 *       s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
 *       s[2] ^= t;    s[3] = rotl(s[3], 45)
 *
 *   (all arithmetic modulo 2^64). Period 2^256 − 1.
 * - **splitmix64** (Steele, Lea & Flood; Vigna's reference `splitmix64.c`) expands the seed
 *   into the 256-bit state: the four state words are its first four outputs, where
 *
 *       x += 0x9e3779b97f4a7c15
 *       z = (x ^ (x >>> 30)) * 0xbf58476d1ce4e5b9
 *       z = (z ^ (z >>> 27)) * 0x94d049bb133111eb
 *       output z ^ (z >>> 31)
 *
 *   (splitmix64 with seed 0 yields 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, …).
 *
 * The hot path keeps each 64-bit word as two unsigned 32-bit halves and uses only `Math.imul`,
 * shifts and `>>> 0`; no BigInt is allocated per draw. `nextDouble()` is the top 53 bits of
 * the 64-bit output times 2^-53, hence a multiple of 2^-53 in [0, 1).
 *
 * ## Normal draws and reproducibility
 *
 * Normal variates use the **Marsaglia polar method**: draw u, v uniform in (−1, 1) until
 * 0 < s = u² + v² < 1, then return u·m and v·m with m = sqrt(−2·ln(s)/s); the second value is
 * cached and returned by the next normal draw. Compared with Box–Muller it needs no cos/sin:
 * besides IEEE-754 `+ − × /` and `Math.sqrt` (all correctly rounded, hence identical
 * everywhere; JavaScript never contracts into FMA) the only transcendental is the logarithm.
 * ECMAScript does *not* require `Math.log` to be correctly rounded, and engines differ in its
 * last bit, so the draws take the logarithm from `logScalar` (math/log.ts), fdlibm's
 * algorithm in IEEE operations and bit manipulation only: the same bits in every engine, and
 * those of V8's `Math.log` (V8 runs fdlibm's code; tested on millions of inputs), so the
 * stream is the one earlier versions drew in Node. Large fills run the same operations in
 * wasm (`normal_pairs`) where the library entry has registered it (`useNormalPairs`; this
 * module loads no backend itself). Normal and uniform draws are bitwise identical on every
 * platform, with or without it.
 *
 * @example
 *   const rng = new Rng(deriveSeed(42, 'param', 'U'));
 *   const w = new Float64Array(6);
 *   rng.fillNormal(w, 0, 1 / Math.sqrt(3));
 */

import { logScalar } from '../math/log.ts';

/**
 * A filler of normal pairs in another engine (the wasm kernels' `normal_pairs`): the same
 * xoshiro outputs, accept test, logarithm and arithmetic as `standardNormal`, so the same bits.
 * Advances `state` (the eight 32-bit halves of the xoshiro state) and returns 2·pairs draws.
 */
export type NormalPairs = (state: Uint32Array, pairs: number, mean: number, std: number) => Float64Array;

let normalPairs: (() => NormalPairs | null) | null = null;

/**
 * Lets large `fillNormal` calls draw through `provider()` (null: not available here), e.g.
 * `useNormalPairs(wasmNormalPairs)` from the library entry, so that the front end (parser, ir,
 * io) never loads a backend itself.
 */
export function useNormalPairs(provider: (() => NormalPairs | null) | null): void {
  normalPairs = provider;
}

const MASK64 = (1n << 64n) - 1n;
/** fillNormal draws through wasm from this many values on (below, the call costs more). */
const WASM_FILL_MIN = 256;
/** Pairs per wasm call (16 bytes each: 64 KB of wasm memory). */
const FILL_CHUNK = 4096;
const TWO32 = 4294967296;
const TWO_M53 = 1 / 9007199254740992; // 2^-53

/** One splitmix64 step on a BigInt state; returns [newState, output]. Used only for seeding. */
function splitmix64Step(x: bigint): [bigint, bigint] {
  x = (x + 0x9e3779b97f4a7c15n) & MASK64;
  let z = x;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [x, z ^ (z >> 31n)];
}

/** The splitmix64 finaliser alone (a bijective 64-bit mixer). */
function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/**
 * The first `n` outputs of splitmix64 started at `seed` (a 64-bit unsigned integer; negative
 * values are taken modulo 2^64). Exposed for tests and for documentation of the seeding.
 *
 * @example splitmix64Sequence(0n, 1) // [0xe220a8397b1dcdafn]
 */
export function splitmix64Sequence(seed: bigint, n: number): bigint[] {
  let x = BigInt.asUintN(64, seed);
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const [nx, z] = splitmix64Step(x);
    x = nx;
    out.push(z);
  }
  return out;
}

function toSeed64(seed: number | bigint): bigint {
  if (typeof seed === 'bigint') return BigInt.asUintN(64, seed);
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new RangeError(`Rng seed must be a safe integer or a bigint, got ${String(seed)}`);
  }
  return BigInt.asUintN(64, BigInt(seed));
}

/**
 * A xoshiro256** generator seeded through splitmix64 (see the module comment).
 *
 * The seed is an integer: a `number` must be a safe integer (|seed| < 2^53), a `bigint` is
 * taken modulo 2^64 (negative numbers are taken modulo 2^64 too). Two generators built from
 * the same seed produce the same sequence on every platform.
 *
 * @example
 *   const rng = new Rng(1234);
 *   rng.nextDouble();          // in [0, 1)
 *   rng.normal(0, 1);          // standard normal
 */
export class Rng {
  // state word i = (hi_i << 32) | lo_i, each half an unsigned 32-bit integer
  private s0h = 0;
  private s0l = 0;
  private s1h = 0;
  private s1l = 0;
  private s2h = 0;
  private s2l = 0;
  private s3h = 0;
  private s3l = 0;
  // the high and low halves of the last output (set by step())
  private rh = 0;
  private rl = 0;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number | bigint) {
    let x = toSeed64(seed);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [nx, z] = splitmix64Step(x);
      x = nx;
      words.push(Number(z >> 32n), Number(z & 0xffffffffn));
    }
    [this.s0h, this.s0l, this.s1h, this.s1l, this.s2h, this.s2l, this.s3h, this.s3l] = words as [
      number, number, number, number, number, number, number, number,
    ];
    // splitmix64 is a bijection of its counter, so four consecutive outputs are never all zero;
    // keep the guard anyway since the all-zero state is a fixed point of xoshiro.
    if ((this.s0h | this.s0l | this.s1h | this.s1l | this.s2h | this.s2l | this.s3h | this.s3l) === 0) {
      this.s0l = 1;
    }
  }

  /**
   * Build a generator from an explicit 256-bit state (four 64-bit words, not all zero),
   * bypassing splitmix64. Meant for comparing with the reference implementation.
   */
  static fromState(state: readonly [bigint, bigint, bigint, bigint]): Rng {
    const r = new Rng(0);
    const w = state.map((v) => BigInt.asUintN(64, v));
    if (w.every((v) => v === 0n)) throw new RangeError('xoshiro256** state must not be all zero');
    const hi = (v: bigint) => Number(v >> 32n);
    const lo = (v: bigint) => Number(v & 0xffffffffn);
    r.s0h = hi(w[0]!); r.s0l = lo(w[0]!);
    r.s1h = hi(w[1]!); r.s1l = lo(w[1]!);
    r.s2h = hi(w[2]!); r.s2l = lo(w[2]!);
    r.s3h = hi(w[3]!); r.s3l = lo(w[3]!);
    return r;
  }

  /** Advance the state once; leaves the 64-bit output in (rh, rl). */
  private step(): void {
    const s1h = this.s1h;
    const s1l = this.s1l;
    // a = s1 * 5 (mod 2^64); s1l * 5 < 2^35 is exact in a double
    let p = s1l * 5;
    let al = p >>> 0;
    let ah = (Math.imul(s1h, 5) + Math.floor(p / TWO32)) >>> 0;
    // b = rotl(a, 7)
    const bh = ((ah << 7) | (al >>> 25)) >>> 0;
    const bl = ((al << 7) | (ah >>> 25)) >>> 0;
    // result = b * 9 (mod 2^64)
    p = bl * 9;
    this.rl = p >>> 0;
    this.rh = (Math.imul(bh, 9) + Math.floor(p / TWO32)) >>> 0;

    // t = s1 << 17
    const th = (s1h << 17) | (s1l >>> 15);
    const tl = s1l << 17;

    let s2h = this.s2h ^ this.s0h;
    let s2l = this.s2l ^ this.s0l;
    let s3h = this.s3h ^ s1h;
    let s3l = this.s3l ^ s1l;
    this.s1h = (s1h ^ s2h) >>> 0;
    this.s1l = (s1l ^ s2l) >>> 0;
    this.s0h = (this.s0h ^ s3h) >>> 0;
    this.s0l = (this.s0l ^ s3l) >>> 0;
    s2h ^= th;
    s2l ^= tl;
    this.s2h = s2h >>> 0;
    this.s2l = s2l >>> 0;
    // s3 = rotl(s3, 45) = rotl(swap halves, 13)
    ah = s3h;
    al = s3l;
    this.s3h = ((al << 13) | (ah >>> 19)) >>> 0;
    this.s3l = ((ah << 13) | (al >>> 19)) >>> 0;
  }

  /** The next raw 64-bit output as an unsigned bigint (allocates; intended for tests). */
  nextU64(): bigint {
    this.step();
    return (BigInt(this.rh) << 32n) | BigInt(this.rl);
  }

  /** The next double in [0, 1): the top 53 bits of the 64-bit output times 2^-53. */
  nextDouble(): number {
    this.step();
    return (this.rh * 2097152 + (this.rl >>> 11)) * TWO_M53;
  }

  /**
   * A uniform draw `lo + (hi − lo)·u` with u = nextDouble(). Because of rounding the result can
   * equal `hi` when the interval is wide relative to its endpoints.
   *
   * @example new Rng(1).uniform(-1, 1)
   */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.nextDouble();
  }

  /** A standard normal draw (Marsaglia polar method, second value cached). */
  private standardNormal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.nextDouble() - 1;
      v = 2 * this.nextDouble() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * logScalar(s)) / s);
    this.spare = v * m;
    this.hasSpare = true;
    return u * m;
  }

  /**
   * A normal draw `mean + std·z` with z standard normal (Marsaglia polar method; every second
   * call uses the value cached by the previous one).
   *
   * @example new Rng(7).normal(0, 0.1)
   */
  normal(mean: number, std: number): number {
    return mean + std * this.standardNormal();
  }

  /**
   * Fill `out` with uniform draws in [lo, hi), in index order; equivalent to calling
   * `uniform(lo, hi)` `out.length` times.
   */
  fillUniform(out: Float64Array, lo: number, hi: number): void {
    const w = hi - lo;
    for (let i = 0; i < out.length; i++) out[i] = lo + w * this.nextDouble();
  }

  /**
   * Fill `out` with normal draws, in index order; equivalent to calling `normal(mean, std)`
   * `out.length` times (so it shares the cached polar-method value with `normal`).
   *
   * @example
   *   const w = new Float64Array(12);
   *   new Rng(deriveSeed(0, 'param', 'W')).fillNormal(w, 0, 1);
   */
  fillNormal(out: Float64Array, mean: number, std: number): void {
    const n = out.length;
    let i = 0;
    if (n > 0 && this.hasSpare) {
      this.hasSpare = false;
      out[i++] = mean + std * this.spare;
    }
    // Large fills draw in wasm (`normal_pairs`: the same xoshiro outputs, accept test, logarithm
    // and arithmetic, so the same bits), all but an odd last value, which the loop below draws
    // (caching its pair's spare). In JS, a first call of the loop ran mostly before V8 had
    // optimized it: the 271k MLP's draws took 25–44 ms.
    const draw = n - i >= WASM_FILL_MIN && normalPairs ? normalPairs() : null;
    if (draw) {
      const st = Uint32Array.of(this.s0l, this.s0h, this.s1l, this.s1h, this.s2l, this.s2h, this.s3l, this.s3h);
      for (let left = (n - i) >> 1; left > 0; ) {
        const pairs = Math.min(FILL_CHUNK, left);
        out.set(draw(st, pairs, mean, std), i);
        i += 2 * pairs;
        left -= pairs;
      }
      [this.s0l, this.s0h, this.s1l, this.s1h, this.s2l, this.s2h, this.s3l, this.s3h] = st as unknown as [number, number, number, number, number, number, number, number];
    }
    for (; i < n; i++) out[i] = mean + std * this.standardNormal();
  }
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

/** FNV-1a (64-bit) over the bytes of `bytes`, continuing from `h`. */
function fnv1a(h: bigint, bytes: Uint8Array): bigint {
  for (let i = 0; i < bytes.length; i++) {
    h ^= BigInt(bytes[i]!);
    h = (h * FNV_PRIME) & MASK64;
  }
  return h;
}

const encoder = new TextEncoder();

/**
 * Derive a seed for an independent stream from a base seed and a list of salts, so that each
 * declaration gets its own stream and adding one does not change the others.
 *
 * Definition (stable; changing it changes every generated number of the project):
 *
 *     h = mix64(base mod 2^64)                       — mix64 = splitmix64 finaliser
 *     for each salt:
 *       key = "s:" + salt   (string)   or   "n:" + String(salt)   (number)
 *       h = mix64(h ^ FNV-1a-64(UTF-8(key)))
 *     result = top 53 bits of mix64(h + 0x9e3779b97f4a7c15)
 *
 * The result is a non-negative safe integer (< 2^53), usable as an `Rng` seed and printable
 * in JSON. Salts are tagged by type, so `'1'` and `1` give different streams, and hashed one at
 * a time, so `('ab', 'c')` differs from `('a', 'bc')`.
 *
 * @example
 *   const rngU = new Rng(deriveSeed(globalSeed, 'param', 'U'));
 */
export function deriveSeed(base: number, ...salt: (number | string)[]): number {
  let h = mix64(toSeed64(base));
  for (const s of salt) {
    let key: string;
    if (typeof s === 'string') key = 's:' + s;
    else if (typeof s === 'number') key = 'n:' + String(s);
    else throw new TypeError(`deriveSeed salt must be a number or a string, got ${typeof s}`);
    h = mix64(h ^ fnv1a(FNV_OFFSET, encoder.encode(key)));
  }
  h = mix64((h + 0x9e3779b97f4a7c15n) & MASK64);
  return Number(h >> 11n);
}
