/**
 * Lipschitz estimates of h and Dh on the ball B(w0, ρ) (docs/math.md §1):
 *
 *   Lip(h)  = sup_{w∈B} ‖Dh(w)‖            (operator norm R^p → R^k)
 *   Lip(Dh) = sup_{w∈B} ‖D²h(w)‖,  ‖D²h(w)‖ = sup_{‖u‖=‖v‖=1} ‖D²h(w)[u, v]‖
 *
 * each as an interval [lower, upper]: `lower` is a value attained at a reported point of the ball
 * (`power.ts`), `upper` a bound valid by construction (`enclosure.ts`), or null where none exists
 * (a non-smooth function whose kink the ball reaches, a log or a division whose argument may reach
 * 0 on the ball, a model too large for the enclosure) with the reason in `note`.
 */
import type { Model } from '../ir/model.ts';
import { Evaluator, jacobianBlockBytes } from '../evaluator/evaluator.ts';
import { certifiedBounds, estimateEntries, type EnclosureResult } from './enclosure.ts';
import { ensureMemory } from '../runtime/memory.ts';
import { lipDhLower, lipHLower, Probe, type AscentResult } from './power.ts';

/**
 * Options of `lipschitz`: the ball's radius ρ, the search's starts, steps and time budget.
 */
export interface LipOptions {
  /** The radius ρ > 0 of the ball B(w0, ρ). */
  radius: number;
  /** The centre (default the model's w0). */
  w0?: Float64Array;
  /**
   * Most restarts of each search (Lip(h) and Lip(Dh) alike): by default max(40, 2·(restarts of
   * the sweep over the Hessian's blocks, Lip(Dh) only) + 40); a search stops earlier once
   * LIP_SEARCH_PATIENCE restarts in a row did not improve its best value (see `supSearch` in
   * power.ts), and a search cut by this cap reports converged: false.
   */
  starts?: number;
  /** Ascent steps per start (default 60). */
  maxSteps?: number;
  /** Seed of the starting points and directions (default 0). */
  seed?: number;
  /** Wall-clock budget of each lower-bound search, ms (default 30 000). */
  timeBudgetMs?: number;
  /** Skip the certified upper bounds (default false). */
  lowerOnly?: boolean;
  /** Max stored derivative entries of the enclosure before it gives up (default 2e7). */
  enclosureBudget?: number;
  /** An existing evaluator of the model (its compiled plans are reused). */
  evaluator?: Evaluator;
  /** Told what the estimate is doing as each of its phases starts (a progress line's text). */
  onPhase?: (what: string) => void;
  /**
   * Told how far each phase is, in thousandths (`done` of 1000, non-decreasing within a phase,
   * ending at 1000): the searches for Lip(h) and Lip(Dh) (restarts of their cap or time of their
   * budget, whichever is further), then the certified bounds (the enclosure's passes over the graph).
   */
  onProgress?: (done: number, total: number, phase: LipPhase) => void;
}

/** The phases of `lipschitz`, as `LipOptions.onProgress` names them. */
export type LipPhase = 'Lip(h) search' | 'Lip(Dh) search' | 'certified bounds';

/**
 * One Lipschitz constant as an interval: `lower` ≤ the constant ≤ `upper` (null when no finite
 * bound exists), with the point of the ball where `lower` is attained.
 */
export interface LipEstimate {
  /** Attained value: a lower bound of the sup. */
  lower: number;
  /** Certified upper bound, or null where none exists (see `note`). */
  upper: number | null;
  /** The point of the ball where `lower` is attained, and the maximizing directions. */
  argmax: { w: Float64Array; z: Float64Array; u: Float64Array };
  /**
   * Whether the lower-bound search met its stopping rule within its budgets, one rule for Lip(h)
   * and Lip(Dh) (`supSearch` in power.ts): the best value improved by at most LIP_SEARCH_RTOL
   * (relative) over the last LIP_SEARCH_PATIENCE restarts (for Lip(Dh) after a sweep over the
   * Hessian's blocks), the ascent at the maximizer met LIP_STATIONARITY_TOL and the inner
   * iteration there (the power iteration of ‖D²h‖, the singular value problem of ‖Dh‖) its
   * tolerance, and neither the time budget nor the cap on restarts stopped it. Never a
   * certificate of the sup: `upper` is the only guarantee.
   */
  converged: boolean;
  /** Why upper is null, or why the search did not converge; null if nothing to say. */
  note: string | null;
}

/**
 * What `lipschitz` reports (the keys of `ntk lip --json`): Lip(h) = sup_B ‖Dh‖ and
 * Lip(Dh) = sup_B ‖D²h‖ on B(w0, ρ), each as a `LipEstimate`.
 */
export interface LipResult {
  radius: number;
  lipH: LipEstimate;
  lipDh: LipEstimate;
  /** Milliseconds spent on the lower bounds, the upper bounds, and in all. */
  time: { lower: number; upper: number; total: number };
  /** Details of the certified bounds (null with `lowerOnly`). */
  enclosure: EnclosureResult | null;
  /** Work done by the lower-bound search. */
  evaluations: { jacobian: number; hvp: number; d2: number; d3: number; starts: number; steps: number };
}

/**
 * A bad radius or option: the CLI exits 2 on it.
 * @example lipschitz(model, { radius: -1 })   // throws LipUsageError
 */
export class LipUsageError extends Error {}

/** The enclosure's default budget of stored derivative entries (`certifiedBounds`). */
const ENCLOSURE_BUDGET = 2e7;
/** Vectors of the searches: Lanczos's (≤ 40 steps, fully reorthogonalized) and the ascents'. */
const LIP_VECTORS = 80;
const outputCountOf = (m: Model) => m.outputShape.reduce((a, b) => a * b, 1);

/**
 * The peak bytes `lipschitz` holds besides its evaluator's buffers, for k outputs, p parameters
 * and `entries` stored derivative entries of the enclosure (`estimateEntries`; 0 without it):
 * ‖Dh(w)‖ from J and its scaled copy (2·k·p, taken when k·p ≤ 4·10⁶) with the Gram matrix of the
 * smaller side (min(k, p)²), `LIP_VECTORS` vectors of p + k values, and each entry's key,
 * midpoint and radius (24 bytes) in arrays grown by doubling (up to twice that).
 * @example lipWorkingSet(64, 5000, 1e6) // 8·(2·320000 + 4096 + 80·5064) + 48·10⁶ ≈ 56 MB
 */
export function lipWorkingSet(k: number, p: number, entries: number): number {
  const dense = k * p <= 4e6 && Math.min(k, p) <= 1200;
  return 8 * ((dense ? 2 * k * p + Math.min(k, p) ** 2 : 0) + LIP_VECTORS * (p + k)) + 48 * entries + (dense ? jacobianBlockBytes(k, p) : 0);
}

/**
 * Lower and upper bounds of Lip(h) and Lip(Dh) on B(w0, ρ).
 *
 * @example
 *   // h(w) = sin(w), w0 = 0.3: Lip(Dh) = sup_{|w−0.3|≤0.2} |sin w| = sin(0.5).
 *   const r = lipschitz(loadModel('examples/sin.ntk'), { radius: 0.2 });
 *   r.lipDh.lower; // 0.479425538604203 (attained at w = 0.5)
 *   r.lipDh.upper; // ≥ 0.4794255386…, certified
 */
export function lipschitz(model: Model, opts: LipOptions): LipResult {
  const rho = opts.radius;
  if (!(Number.isFinite(rho) && rho > 0)) throw new LipUsageError(`the radius must be a positive finite number, got ${rho}`);
  const w0 = opts.w0 ?? model.w0;
  if (w0.length !== model.paramCount) throw new LipUsageError(`w0 has ${w0.length} values, the model has ${model.paramCount} parameters`);
  let scale = 0;
  for (const x of w0) scale = Math.max(scale, Math.abs(x));
  if (rho > 1e6 * Math.max(1, scale))
    throw new LipUsageError(`the radius ${rho} is absurdly large next to the weights (‖w0‖∞ = ${scale}): the estimates would be meaningless`);
  const entries = opts.lowerOnly ? 0 : estimateEntries(model);
  ensureMemory(lipWorkingSet(outputCountOf(model), model.paramCount, entries <= (opts.enclosureBudget ?? ENCLOSURE_BUDGET) ? entries : 0),
    `the Lipschitz estimates of ${model.file} (${outputCountOf(model)} outputs, ${model.paramCount} parameters${entries ? `, about ${entries.toExponential(1)} enclosure entries` : ''})`,
    `${entries ? '--lower-only (no enclosure), ' : ''}fewer outputs or parameters (--set), or raise --max-memory`);
  const t0 = performance.now();
  const ev = opts.evaluator ?? new Evaluator(model);
  const probe = new Probe(model, ev);
  const ascent = { radius: rho, starts: opts.starts, maxSteps: opts.maxSteps, seed: opts.seed ?? 0, timeBudgetMs: opts.timeBudgetMs ?? 30000 };
  const budget = `(up to ${Math.round(ascent.timeBudgetMs / 1000)} s)`;
  const told = (phase: LipPhase) => (opts.onProgress ? { onProgress: (done: number, total: number) => opts.onProgress!(done, total, phase) } : {});
  opts.onPhase?.(`lower bound of Lip(h): ascent for the sup of ‖Dh‖ on the ball ${budget}`);
  const h = lipHLower(probe, w0, { ...ascent, ...told('Lip(h) search') });
  opts.onPhase?.(`lower bound of Lip(Dh): ascent for the sup of ‖D²h‖ on the ball ${budget}`);
  const d = lipDhLower(probe, w0, { ...ascent, ...told('Lip(Dh) search') }, opts.seed ?? 0);
  const t1 = performance.now();
  if (!opts.lowerOnly) opts.onPhase?.('certified upper bounds: interval enclosure of Dh and D²h on the ball');
  const enclosure = opts.lowerOnly ? null : certifiedBounds(model, { radius: rho, w0, budget: opts.enclosureBudget, evaluator: ev, ...told('certified bounds') });
  const t2 = performance.now();
  const estimate = (a: AscentResult, upper: number | null, upperNote: string | null): LipEstimate => {
    [upper, upperNote] = checkedUpper(a.value, upper, upperNote);
    return {
      lower: a.value,
      upper,
      argmax: { w: a.w, z: a.z, u: a.u },
      converged: a.converged,
      note: [upperNote, a.note].filter((x) => x).join('; ') || null,
    };
  };
  return {
    radius: rho,
    lipH: estimate(h, enclosure?.lipH ?? null, enclosure ? enclosure.lipHNote : 'upper bound not computed (lowerOnly)'),
    lipDh: estimate(d, enclosure?.lipDh ?? null, enclosure ? enclosure.lipDhNote : 'upper bound not computed (lowerOnly)'),
    time: { lower: t1 - t0, upper: t2 - t1, total: t2 - t0 },
    enclosure,
    evaluations: { ...probe.counts, starts: h.starts + d.starts, steps: h.steps + d.steps },
  };
}

/**
 * Relative slack between an attained value and a certified bound: the attained value is computed
 * in floating point (a norm of a derivative evaluated at a point, ~p·2⁻⁵³ relative error), the
 * bound encloses the exact value; beyond this an upper bound below the lower one is a bug.
 */
export const LIP_CONSISTENCY_RTOL = 1e-9;

/**
 * The certified upper bound as reported: a finite number ≥ the attained lower bound, or null with
 * the reason. A NaN or ∞ (overflow) is never a bound; an upper bound below an attained value
 * (beyond LIP_CONSISTENCY_RTOL) contradicts its own certificate and is withheld as a bug.
 * @example checkedUpper(2, 1, null) // [null, 'no certified bound: … (a bug: please report it)']
 */
export function checkedUpper(lower: number, upper: number | null, note: string | null): [number | null, string | null] {
  if (upper === null) return [null, note];
  if (!Number.isFinite(upper)) return [null, `no certified bound: the bound overflowed (${upper})`];
  if (Number.isFinite(lower) && upper < lower * (1 - LIP_CONSISTENCY_RTOL))
    return [null, `no certified bound: the computed bound ${upper} is below the attained value ${lower} (a bug: please report it)`];
  return [upper, note];
}

export { Probe, lipHLower, lipDhLower, jacobianNorm, hessianNorm, lanczosExtreme, projectBall } from './power.ts';
export { certifiedBounds, estimateEntries, type EnclosureResult } from './enclosure.ts';
