import { describe, expect, test } from 'vitest';
import { Rng, deriveSeed, splitmix64Sequence } from '../../src/io/rng.ts';
import { wasmNormalPairs, wasmUnary } from '../../src/runtime/backend-wasm.ts';
import { logScalar } from '../../src/math/log.ts';

// Reference values computed with the public-domain C reference code of splitmix64 and
// xoshiro256** 1.0 (Blackman & Vigna), compiled with gcc (x86-64).

describe('splitmix64', () => {
  test('seed 0 matches the reference', () => {
    expect(splitmix64Sequence(0n, 6)).toEqual([
      0xe220a8397b1dcdafn,
      0x6e789e6aa1b965f4n,
      0x06c45d188009454fn,
      0xf88bb8a8724c81ecn,
      0x1b39896a51a8749bn,
      0x53cb9f0c747ea2ean,
    ]);
  });
  test('seed 1234567 matches the reference', () => {
    expect(splitmix64Sequence(1234567n, 6)).toEqual([
      0x599ed017fb08fc85n,
      0x2c73f08458540fa5n,
      0x883ebce5a3f27c77n,
      0x3fbef740e9177b3fn,
      0xe3b8346708cb5ecdn,
      0x6c4f7dbc989944f6n,
    ]);
  });
});

describe('xoshiro256**', () => {
  test('raw state (1, 2, 3, 4) matches the reference', () => {
    const r = Rng.fromState([1n, 2n, 3n, 4n]);
    const got = Array.from({ length: 10 }, () => r.nextU64());
    expect(got).toEqual([
      0x0000000000002d00n,
      0x0000000000000000n,
      0x000000005a007080n,
      0x10e0000000009d80n,
      0x10e0b61ce1009d80n,
      0x0870021ce143ad00n,
      0xe071c3c2e143f089n,
      0x75a1690ef7a20380n,
      0x9309685b465c23f9n,
      0x284f3cc2e13e3c88n,
    ]);
  });

  test.each([
    [0n, [0x99ec5f36cb75f2b4n, 0xbf6e1f784956452an, 0x1a5f849d4933e6e0n, 0x6aa594f1262d2d2cn, 0xbba5ad4a1f842e59n, 0xffef8375d9ebcacan, 0x6c160deed2f54c98n, 0x8920ad648fc30a3fn]],
    [42n, [0x15780b2e0c2ec716n, 0x6104d9866d113a7en, 0xae17533239e499a1n, 0xecb8ad4703b360a1n, 0xfde6dc7fe2ec5e64n, 0xc50da53101795238n, 0xb82154855a65ddb2n, 0xd99a2743ebe60087n]],
    [1234567n, [0x30a3a1c363600467n, 0x19405f0f579929can, 0x115beaac046ddbd9n, 0xeb17caf48f27d7f6n, 0xa0c94fe1cce9d136n, 0x70e3326578802da2n, 0xe54cf8877c3f5477n, 0x5cb9160d2c396c0en]],
    [0xffffffffffffffffn, [0x8f5520d52a7ead08n, 0xc476a018caa1802dn, 0x81de31c0d260469en, 0xbf658d7e065f3c2fn, 0x913593fda1bca32an, 0xbb535e93941ba525n, 0x5ecda415c3c6dfden, 0xc487398fc9de9ae2n]],
  ])('seeded through splitmix64(%s) matches the reference', (seed, expected) => {
    const r = new Rng(seed);
    expect(Array.from({ length: 8 }, () => r.nextU64())).toEqual(expected);
  });

  test('number and bigint seeds agree; negative seeds wrap modulo 2^64', () => {
    const a = new Rng(42);
    const b = new Rng(42n);
    const c = new Rng(-1);
    const d = new Rng(0xffffffffffffffffn);
    for (let i = 0; i < 5; i++) {
      expect(a.nextU64()).toBe(b.nextU64());
      expect(c.nextU64()).toBe(d.nextU64());
    }
  });

  test('the 1,000,000th draw for seed 7 matches the reference', () => {
    const r = new Rng(7);
    for (let i = 0; i < 999_999; i++) r.nextDouble();
    expect(r.nextU64()).toBe(0x71a43f8082546a3fn);
  });

  test('nextDouble is the top 53 bits times 2^-53 (reference doubles, seed 42)', () => {
    const r = new Rng(42);
    const got = Array.from({ length: 5 }, () => r.nextDouble());
    expect(got).toEqual([
      0.083862971059882163, 0.37898025066266861, 0.68004341102813937, 0.92469294532538759,
      0.99180391428210279,
    ]);
    const r2 = new Rng(42);
    const r3 = new Rng(42);
    for (let i = 0; i < 100; i++) {
      expect(r2.nextDouble()).toBe(Number(r3.nextU64() >> 11n) * 2 ** -53);
    }
  });

  test('rejects non-integer seeds', () => {
    expect(() => new Rng(1.5)).toThrow(RangeError);
    expect(() => new Rng(Number.NaN)).toThrow(RangeError);
    expect(() => new Rng(2 ** 60)).toThrow(RangeError);
    expect(() => Rng.fromState([0n, 0n, 0n, 0n])).toThrow(RangeError);
  });
});

function moments(x: Float64Array): { mean: number; variance: number; kurtosis: number } {
  let m = 0;
  for (const v of x) m += v;
  m /= x.length;
  let m2 = 0;
  let m4 = 0;
  for (const v of x) {
    const d = (v - m) ** 2;
    m2 += d;
    m4 += d * d;
  }
  m2 /= x.length;
  m4 /= x.length;
  return { mean: m, variance: m2, kurtosis: m4 / (m2 * m2) };
}

describe('distributions', () => {
  const N = 100_000;

  test('uniform [0, 1): mean and variance within 5 sigma, range respected', () => {
    const x = new Float64Array(N);
    new Rng(deriveSeed(1, 'uniform')).fillUniform(x, 0, 1);
    const { mean, variance } = moments(x);
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / N));
    // Var of the sample variance of U(0,1): (mu4 - sigma^4) / N = (1/80 - 1/144) / N
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(5 * Math.sqrt((1 / 80 - 1 / 144) / N));
    expect(Math.min(...x)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...x)).toBeLessThan(1);
  });

  test('uniform(lo, hi) scales and shifts', () => {
    const x = new Float64Array(N);
    new Rng(3).fillUniform(x, -2, 4);
    const { mean, variance } = moments(x);
    expect(Math.abs(mean - 1)).toBeLessThan(5 * Math.sqrt(36 / 12 / N));
    expect(Math.abs(variance - 3)).toBeLessThan(5 * 36 * Math.sqrt((1 / 80 - 1 / 144) / N));
    expect(Math.min(...x)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...x)).toBeLessThan(4);
    // fillUniform ≡ repeated uniform()
    const a = new Rng(9);
    const b = new Rng(9);
    const y = new Float64Array(10);
    a.fillUniform(y, -1, 1);
    for (let i = 0; i < 10; i++) expect(y[i]).toBe(b.uniform(-1, 1));
  });

  test('normal: mean, variance and kurtosis within 5 sigma', () => {
    const x = new Float64Array(N);
    new Rng(deriveSeed(1, 'normal')).fillNormal(x, 0, 1);
    const { mean, variance, kurtosis } = moments(x);
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(N));
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / N));
    expect(Math.abs(kurtosis - 3)).toBeLessThan(5 * Math.sqrt(24 / N));
    // tails: P(|z| > 3) ≈ 0.0027
    const tail = x.filter((v) => Math.abs(v) > 3).length / N;
    expect(Math.abs(tail - 0.0027)).toBeLessThan(5 * Math.sqrt(0.0027 / N));
  });

  test('normal(mean, std) scales and shifts; fillNormal ≡ repeated normal()', () => {
    const x = new Float64Array(N);
    new Rng(11).fillNormal(x, 5, 0.5);
    const { mean, variance } = moments(x);
    expect(Math.abs(mean - 5)).toBeLessThan(5 * 0.5 / Math.sqrt(N));
    expect(Math.abs(variance - 0.25)).toBeLessThan(5 * 0.25 * Math.sqrt(2 / N));
    const a = new Rng(12);
    const b = new Rng(12);
    const y = new Float64Array(11);
    a.fillNormal(y, 1, 2);
    for (let i = 0; i < 11; i++) expect(y[i]).toBe(b.normal(1, 2));
  });

  // Large fills draw in wasm (normal_pairs in kernels.wat): the same bits as the JS draws, the
  // stream left where the JS draws leave it (odd counts, a cached spare value).
  test.skipIf(!wasmNormalPairs())('a large fillNormal (wasm draws) ≡ repeated normal(), and the stream continues the same', () => {
    for (const [seed, sizes] of [[3, [1000]], [4, [257, 4096 * 2 + 3, 1]], [5, [1, 9001, 300]]] as const) {
      const a = new Rng(seed);
      const b = new Rng(seed);
      for (const n of sizes) {
        const y = new Float64Array(n);
        a.fillNormal(y, 0.5, 3);
        for (let i = 0; i < n; i++) if (y[i] !== b.normal(0.5, 3)) expect.fail(`seed ${seed}, fill of ${n}: entry ${i} differs`);
      }
      for (let i = 0; i < 5; i++) expect(a.normal(0, 1)).toBe(b.normal(0, 1));
      expect(a.nextU64()).toBe(b.nextU64());
    }
  });

  // The draws' logarithm is fdlibm's (logScalar; $log in kernels.wat), so that every engine
  // draws the same bits; in V8 it must be Math.log bit for bit, or the stream would have moved.
  test("the draws' logarithm is Math.log bit for bit, in JS and in wasm", () => {
    const xs: number[] = [0, -0, -1, Infinity, -Infinity, NaN, 5e-324, 1e-310, 2.2250738585072014e-308, 1, 2, 0.5, Math.E,
      Number.MAX_VALUE, 1 - 2 ** -53, 1 + 2 ** -52, 1 + 2 ** -21, 1 - 2 ** -21, Math.SQRT2, Math.SQRT1_2];
    const r = new Rng(99);
    for (let i = 0; i < 200_000; i++) {
      const d = r.nextDouble();
      // (0, 1) as the polar method sees it; around 1 (the |f| < 2^-20 branch); every exponent
      xs.push(d, 1 + (d - 0.5) * 2 ** -18, Math.exp((d - 0.5) * 1400), d * 1e-300);
    }
    const x = Float64Array.from(xs);
    const viaWasm = new Float64Array(x.length);
    wasmUnary()?.('log', x, viaWasm);
    for (let i = 0; i < x.length; i++) {
      const want = Math.log(x[i]!);
      if (!Object.is(logScalar(x[i]!), want)) expect.fail(`logScalar(${x[i]}) = ${logScalar(x[i]!)}, Math.log: ${want}`);
      if (wasmUnary() && !Object.is(viaWasm[i], want)) expect.fail(`wasm log(${x[i]}) = ${viaWasm[i]}, Math.log: ${want}`);
    }
  });

  test('polar method values match a C implementation over the same stream (seed 2024)', () => {
    // C: u = 2*d-1, v = 2*d-1 until 0 < s < 1; m = sqrt(-2*log(s)/s); outputs u*m, v*m
    const r = new Rng(2024);
    const got = Array.from({ length: 8 }, () => r.normal(0, 1));
    expect(got).toEqual([
      0.78777049874583249, -0.73444884901588092, -0.63553283187080623, -1.4615153259586555,
      0.078868717285793088, -0.62407534296440892, 0.16023541590267223, 0.31395491877461995,
    ]);
  });
});

describe('determinism and streams', () => {
  test('same seed gives the same arrays', () => {
    const a = new Float64Array(1000);
    const b = new Float64Array(1000);
    new Rng(77).fillNormal(a, 0, 1);
    new Rng(77).fillNormal(b, 0, 1);
    expect(a).toEqual(b);
    new Rng(77).fillUniform(a, 0, 1);
    new Rng(77).fillUniform(b, 0, 1);
    expect(a).toEqual(b);
  });

  test('deriveSeed is stable, a safe integer, and reproducible', () => {
    const s = deriveSeed(42, 'param', 'U');
    expect(Number.isSafeInteger(s)).toBe(true);
    expect(s).toBeGreaterThanOrEqual(0);
    expect(deriveSeed(42, 'param', 'U')).toBe(s);
    // pinned so that an accidental change of the definition is noticed
    expect(s).toBe(390843606027672);
    expect(deriveSeed(0)).toBe(7956156453446585);
  });

  test('different salts and bases give different seeds and streams', () => {
    const seeds = [
      deriveSeed(42, 'param', 'U'),
      deriveSeed(42, 'param', 'W'),
      deriveSeed(43, 'param', 'U'),
      deriveSeed(42, 'param'),
      deriveSeed(42),
      deriveSeed(42, 'paramU'),
      deriveSeed(42, 'param', 'U', 0),
      deriveSeed(42, 'param', 'U', '0'),
      deriveSeed(42, 'pa', 'ramU'),
      deriveSeed(42, 'param', 'Ü'),
    ];
    expect(new Set(seeds).size).toBe(seeds.length);
    const a = new Rng(seeds[0]!).nextDouble();
    const b = new Rng(seeds[1]!).nextDouble();
    expect(a).not.toBe(b);
  });

  test('adjacent base seeds give uncorrelated streams', () => {
    const N = 20_000;
    const x = new Float64Array(N);
    const y = new Float64Array(N);
    new Rng(deriveSeed(1, 's')).fillNormal(x, 0, 1);
    new Rng(deriveSeed(2, 's')).fillNormal(y, 0, 1);
    let c = 0;
    for (let i = 0; i < N; i++) c += x[i]! * y[i]!;
    expect(Math.abs(c / N)).toBeLessThan(5 / Math.sqrt(N));
  });
});
