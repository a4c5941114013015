/**
 * The study of `ntk lip --radius ρ`: attained lower and certified upper bounds of Lip(h) and
 * Lip(Dh) on the ball B(w0, ρ) (`lipschitz`), as the report `ntk lip --json` prints.
 */
import type { Model } from '../ir/model.ts';
import { lipschitz, LipUsageError, type LipEstimate, type EnclosureResult } from '../lip/index.ts';
import { assertFinite, OptionError } from './common.ts';

/** One constant's bracket, with where the lower bound is attained (w, the input direction u, the output direction z). */
export interface LipBracket {
  lower: number;
  /** Certified; null where no bound exists (a kink inside the ball) or with `lowerOnly`. */
  upper: number | null;
  converged: boolean;
  note: string | null;
  argmax: number[];
  direction: number[];
  outputDirection: number[];
}

/** The report of `ntk lip` (its JSON keys). */
export interface LipReport {
  radius: number;
  lipH: LipBracket;
  lipDh: LipBracket;
  /** Milliseconds on the lower bounds, the upper bounds, and in all. */
  time: { lower: number; upper: number; total: number };
  evaluations: { jacobian: number; hvp: number; d2: number; d3: number; starts: number; steps: number };
  /** How the certified bounds were obtained (null with `lowerOnly`). */
  enclosure: Pick<EnclosureResult, 'blocks' | 'largestBlock' | 'relaxation' | 'lipHMethod' | 'entries'> | null;
}

/** Options of `lipReport`: the ball's radius and the search's budget. */
export interface LipStudyOptions {
  /** ρ: a number, or the name of a dim/const of the model. */
  radius: number | string;
  /**
   * Most restarts of each search for the sup (default: 6 for Lip(h); for Lip(Dh) adaptive, see
   * `lipDhLower`), and ascent steps per restart (default 60).
   */
  starts?: number;
  maxSteps?: number;
  seed?: number;
  /** Skip the certified upper bounds. */
  lowerOnly?: boolean;
  /** Wall-clock budget of each search for the sup, ms (default 30 s); past it: converged false. */
  timeBudgetMs?: number;
  /** Told what the estimate is doing as each phase starts (`LipOptions.onPhase`). */
  onPhase?: (what: string) => void;
}

/**
 * The report of `ntk lip`: a radius naming no const, or not positive, is an OptionError; a lower
 * bound that is not finite, a model error.
 * @example lipReport(loadModel('examples/sin.ntk'), { radius: 0.2 }).lipDh.lower // sin(0.5)
 */
export function lipReport(m: Model, o: LipStudyOptions): LipReport {
  const raw = o.radius;
  if (typeof raw === 'string' && !m.constants.has(raw)) throw new OptionError(`--radius ${raw}: neither a number nor a dim or const of the model`);
  const radius = typeof raw === 'string' ? m.constants.get(raw)! : raw;
  if (!(Number.isFinite(radius) && radius > 0)) throw new OptionError(`--radius ${raw}: expected a positive number, got ${radius}`);
  let r;
  try {
    r = lipschitz(m, { radius, starts: o.starts, maxSteps: o.maxSteps ?? 60, seed: o.seed ?? 0, lowerOnly: o.lowerOnly === true, timeBudgetMs: o.timeBudgetMs ?? 30_000, ...(o.onPhase ? { onPhase: o.onPhase } : {}) });
  } catch (e) {
    if (e instanceof LipUsageError) throw new OptionError(`--radius ${raw}: ${e.message}`);
    throw e;
  }
  for (const [what, est] of [['Lip(h)', r.lipH], ['Lip(Dh)', r.lipDh]] as const)
    if (!Number.isFinite(est.lower)) assertFinite(`the lower bound of ${what}`, [est.lower], m, 'check the initial weights, the radius, and functions that blow up on the ball');
  const bracket = (e: LipEstimate): LipBracket => ({
    lower: e.lower, upper: e.upper, converged: e.converged, note: e.note,
    argmax: Array.from(e.argmax.w), direction: Array.from(e.argmax.u), outputDirection: Array.from(e.argmax.z),
  });
  return {
    radius, lipH: bracket(r.lipH), lipDh: bracket(r.lipDh), time: r.time, evaluations: r.evaluations,
    enclosure: r.enclosure && { blocks: r.enclosure.blocks, largestBlock: r.enclosure.largestBlock, relaxation: r.enclosure.relaxation, lipHMethod: r.enclosure.lipHMethod, entries: r.enclosure.entries },
  };
}
