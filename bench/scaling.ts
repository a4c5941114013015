/**
 * `npm run bench -- --scaling` (issue 20, item 3): how the cost grows, as log-log slopes next to
 * the expected ones, and each row's share of the run's best dgemm rate.
 *
 *  - The NTK (order 2) of W4's family, a 2-hidden-layer tanh MLP in Huang–Yau's parametrization
 *    (`examples/mlp-tanh.ntk` with d = 32), against n at m = 256 and against m at n = 1024. It
 *    is timed through `kernel(model, 2)`, the library function that `ntk kernel` calls, so that
 *    whichever path computes the NTK (today the per-row structured one) is the one measured.
 *    Its work, counted as the structured computation does it:
 *
 *        F(n, m) = 2n²(4m + d)   the Gram products (δ·δᵀ and x·xᵀ per layer: n × n × width)
 *                + 4n·m²          the per-row forward and backward passes through the m × m layer
 *
 *    so the time should grow like n² (slope 2: the first term, the second is linear in n and
 *    small when n ≫ m) and like m where the Grams dominate (slope 1 for n ≫ m), rising towards
 *    2 where the per-row m² term takes over (m ≳ n/2). The "expected" slope printed is the
 *    slope of log F over the same sizes; a measured slope far above it is work that grows
 *    faster than the flops (a copy of K per block, a cache-hostile loop): a bug to find.
 *
 *  - The W2 flow (`examples/meanfield-w2.ntk`, α = 4, as `processBench`) against T, with the
 *    accuracy check off (one solve). The flow of δ = w − w̄ is stiff: its Jacobian starts as
 *    −J0ᵀJ0 with λmax(K0) ≈ 0.25, so an explicit method (dop853) is held by stability to steps of
 *    about c/λmax, and its cost grows like λmax·T — slope 1 — once that bound is the binding one
 *    (the mean h·λmax in the row's note near c, a few units); at rtol 1e-10 and T ≤ 1e4 the
 *    accuracy bound binds first and the growth is sublinear. The exponential method ('auto'
 *    past λmax·T = 200) integrates the stiff linear part exactly, so its steps are bounded by
 *    the accuracy of the slowly varying nonlinear remainder, not by stability: sublinear growth
 *    (slope well below 1, towards log T as the residual converges).
 *
 * Sizes that the memory budget refuses are skipped, saying so in their row.
 */
import { performance } from 'node:perf_hooks';
import { evaluate, evaluator, fitLogLog, flow, kernel, loadModel, MemoryError, type FlowMethod } from '../src/index.ts';
import { defaultBackend } from '../src/runtime/backends.ts';

/** A row of the bench's table (bench.ts prints them; % peak is against the best gemm row). */
export interface ScalingRow {
  workload: string;
  ms: number;
  gflops: number | null;
  note: string;
}

const D = 32;
const rssMb = () => (process.resourceUsage().maxRSS / 1024).toFixed(0);

/** The structured NTK's flop count (see the module comment). @example ntkFlops(4096, 1024) // ≈ 1.55e11 */
export function ntkFlops(n: number, m: number, d = D): number {
  return 2 * n * n * (4 * m + d) + 4 * n * m * m;
}

/**
 * The first (cold: plans compiled, buffers first touched) and the least of the next runs (warm:
 * one more, or two while a run takes under 3 s) — every size measured the same way, so that
 * the slopes compare like with like.
 */
function best(f: () => void): { cold: number; warm: number } {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    f();
    times.push(performance.now() - t0);
    if (i >= 1 && times[i]! > 3000) break;
  }
  return { cold: times[0]!, warm: Math.min(...times.slice(1)) };
}

/** The NTK of the MLP at each (n, m): [n or m, ms] of the sizes that ran. */
function ntkSeries(axis: 'n' | 'm', sizes: number[], fixed: number, rows: ScalingRow[]): [number, number][] {
  const done: [number, number][] = [];
  for (const s of sizes) {
    const n = axis === 'n' ? s : fixed, m = axis === 'm' ? s : fixed;
    const workload = `scaling: NTK tanh MLP n=${n} m=${m} d=${D}`;
    try {
      const model = loadModel('examples/mlp-tanh.ntk', { overrides: new Map([['n', n], ['d', D], ['m', m]]) });
      let structure = '';
      const { cold, warm: ms } = best(() => (structure = kernel(model, 2).structure));
      rows.push({ workload, ms, gflops: ntkFlops(n, m) / ms / 1e6, note: `p = ${model.paramCount}, ${structure} structure, ${(ntkFlops(n, m) / 1e9).toFixed(1)} GFLOP counted; warm (first run ${(cold / 1000).toFixed(2)} s); max RSS so far ${rssMb()} MB` });
      done.push([s, ms]);
    } catch (e) {
      if (!(e instanceof MemoryError)) throw e;
      rows.push({ workload, ms: NaN, gflops: null, note: `skipped: ${e.message}` });
    }
  }
  return done;
}

/** The W2 flow at each T with `method`: [T, ms, gradient evaluations] of the runs. */
function flowSeries(method: FlowMethod, Ts: number[], rows: ScalingRow[]): [number, number, number][] {
  const model = loadModel('examples/meanfield-w2.ntk');
  // one gradient ≈ a forward and a reverse pass: about 3× the forward flops (an estimate)
  evaluate(model);
  const f = evaluator(model).plan('h', []).flops;
  const gradFlops = 3 * (f.fixed + f.varying);
  const done: [number, number, number][] = [];
  for (const T of Ts) {
    const t0 = performance.now();
    const r = flow(model, { alpha: 4, T, method, accuracy: false });
    const ms = performance.now() - t0;
    rows.push({
      workload: `scaling: W2 flow α=4 T=${T.toExponential(0)} (${method})`, ms, gflops: (r.stats.rhsEvals * gradFlops) / ms / 1e6,
      // the mean step against the stiffness: near the method's stability limit (a few units for
      // an explicit method) the steps are stability-bound, well below it accuracy-bound
      note: `${r.method}: ${r.stats.steps} steps (mean h·λmax(K0) = ${((r.kernel.lambdaMax * T) / r.stats.steps).toFixed(2)}), ${r.stats.rhsEvals} gradient evaluations, ${r.stats.jacobians} Jacobians`,
    });
    done.push([T, ms, r.stats.rhsEvals]);
  }
  return done;
}

/** A slope line: measured ± stderr, next to the expected and why. */
function slope(name: string, pts: [number, number][], expected: string): string {
  const f = fitLogLog(pts.map((p) => p[0]), pts.map((p) => p[1]));
  const got = f === null ? 'n/a (fewer than two sizes ran)' : `${f.slope.toFixed(2)}${f.stderr === null ? '' : ` ± ${f.stderr.toFixed(2)}`}`;
  return `  ${name.padEnd(44)} ${got.padEnd(14)} expected ${expected}`;
}

/**
 * The scaling rows (pushed onto `rows`, with a dgemm row for the limit line) and the slope lines
 * to print under the table.
 */
export function scalingBench(rows: ScalingRow[]): string[] {
  const be = defaultBackend();
  for (const N of [1024, 2048]) {
    const A = new Float64Array(N * N).map((_, i) => Math.sin(i)), B = new Float64Array(N * N).map((_, i) => Math.cos(i)), C = new Float64Array(N * N);
    const ms = best(() => be.gemm(false, false, N, N, N, 1, A, 0, N, B, 0, N, 0, C, 0, N)).warm;
    rows.push({ workload: `gemm [${N}×${N}]·[${N}×${N}] (${be.name})`, ms, gflops: (2 * N ** 3) / ms / 1e6, note: 'the limit line of this run' });
  }
  const ns = [512, 1024, 2048, 4096, 8192], mFixed = 256;
  const mSizes = [256, 512, 1024, 2048, 4096], nFixed = 1024;
  const byN = ntkSeries('n', ns, mFixed, rows);
  const byM = ntkSeries('m', mSizes, nFixed, rows);
  const flopSlope = (pts: number[], F: (x: number) => number) => fitLogLog(pts, pts.map(F))?.slope.toFixed(2) ?? 'n/a';
  const exp = flowSeries('exponential', [1e3, 3e3, 1e4, 3e4, 1e5], rows);
  const dop = flowSeries('dop853', [1e3, 3e3, 1e4], rows);
  return [
    'log-log slopes (least squares over the sizes that ran; ± standard error):',
    slope(`NTK time against n (m = ${mFixed})`, byN, `2 (n²); the flop count F gives ${flopSlope(byN.map((p) => p[0]), (n) => ntkFlops(n, mFixed))}`),
    slope(`NTK time against m (n = ${nFixed})`, byM, `1 (m) where n ≫ m; F, with its n·m² term, gives ${flopSlope(byM.map((p) => p[0]), (m) => ntkFlops(nFixed, m))}`),
    slope('W2 flow time against T (exponential)', exp.map((p) => [p[0], p[1]]), 'below 1: steps bounded by accuracy, not stability'),
    slope('  gradient evaluations against T', exp.map((p) => [p[0], p[2]]), 'below 1'),
    slope('W2 flow time against T (dop853, explicit)', dop.map((p) => [p[0], p[1]]), '1 once stability-bound (mean h·λmax at the method\'s limit); below 1 while accuracy-bound'),
    slope('  gradient evaluations against T', dop.map((p) => [p[0], p[2]]), '1'),
    'NTK: F(n, m) = 2n²(4m + d) + 4n·m² counted (Gram products, per-row passes); flows: GFLOP/s estimated as 3× the forward flops per gradient',
  ];
}
