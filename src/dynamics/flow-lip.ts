/**
 * The flow's Lipschitz policy, one definition for `ntk flow` (flowStudy) and every point of
 * `ntk sweep`: without given constants, Lip(h) and Lip(Dh) are the certified upper bounds of
 * `lipschitz` on the ball B(w0, ρ) with ρ = radius or, by default, ρ = √(T·R0)/α — Proposition
 * 3.1 says both the flow and its linearization stay in it up to T, so the bounds of Theorem 1.2
 * and Proposition 1.1 hold with these constants. Past a budget of stored derivative entries the
 * estimate is skipped with a note that says how to get it.
 */
import type { Model } from '../ir/model.ts';
import { Evaluator } from '../evaluator/evaluator.ts';
import { lipschitz, estimateEntries, LipUsageError, type LipResult } from '../lip/index.ts';

/**
 * Stored derivative entries up to which the flow runs the Lipschitz estimate by itself: about a
 * second per enclosure pass here (W2's network, 7e6 entries, took 13 s a pass and five passes).
 * @example estimateEntries(model) <= FLOW_LIP_ENTRIES // the flow estimates Lip(h), Lip(Dh) itself
 */
export const FLOW_LIP_ENTRIES = 5e5;

/** Wall-clock budget of the automatic Lipschitz estimate's search for the sup (ms). */
export const FLOW_LIP_BUDGET_MS = 10_000;

/** What `flowLipschitz` decided: the constants the bounds use, and where they came from. */
export interface FlowLipschitz {
  lipDh: number | null;
  lipH: number | null;
  /** The radius of the ball the constants hold on (null: none given and none estimated). */
  radius: number | null;
  /** 'given' (by the user), 'estimated' (here), or null (unknown). */
  source: 'given' | 'estimated' | null;
  /** The estimate, when one was made. */
  estimate: LipResult | null;
  /** Why no estimate was made although none was given (a warning for the report), or null. */
  skipped: string | null;
}

/**
 * The constants of the bounds for a flow of α·h up to T: the given ones, or (when neither
 * Lip(Dh) nor Lip(h) is given, `lip` is not false and the loss is the square loss) the
 * certified upper bounds of `lipschitz` on B(w0, ρ), ρ = radius ?? √(T·R0)/α.
 * @example flowLipschitz(loadModel('examples/converse.ntk'), { alpha: 10, T: 100 }).lipDh // ≥ b
 */
export function flowLipschitz(
  m: Model,
  o: {
    alpha: number; T: number; lipDh?: number | null; lipH?: number | null; radius?: number | null; lip?: boolean; overrides?: Map<string, number> | Record<string, number>;
    /** Told what runs before the estimate starts (a progress line's text). */
    onStatus?: (what: string) => void;
  },
  ev?: Evaluator,
): FlowLipschitz {
  const lipDh = o.lipDh ?? null, lipH = o.lipH ?? null, radius = o.radius ?? null;
  if (lipDh !== null || lipH !== null) return { lipDh, lipH, radius, source: 'given', estimate: null, skipped: null };
  if (o.lip === false || m.loss?.kind !== 'square') return { lipDh, lipH, radius, source: null, estimate: null, skipped: null };
  const R0 = (ev ?? new Evaluator(m)).loss(m.w0, o.alpha);
  const ball = radius ?? Math.sqrt(o.T * R0) / o.alpha;
  // The certified bounds' cost grows with the model's Hessian structure; past a budget of stored
  // entries the flow does not wait for them (and says how to get them).
  const entries = estimateEntries(m);
  if (entries > FLOW_LIP_ENTRIES) {
    const sets = Object.entries(o.overrides instanceof Map ? Object.fromEntries(o.overrides) : (o.overrides ?? {})).map(([k, v]) => ` --set ${k}=${v}`).join('');
    const skipped = `no automatic Lipschitz estimate: its certified bounds would store about ${entries.toExponential(1)} derivative entries (the flow allows ${FLOW_LIP_ENTRIES.toExponential(0)}); run 'ntk lip ${m.file}${sets} --radius ${Number(ball.toPrecision(6))}' (it may take minutes) and pass --lip-dh and --lip-h`;
    return { lipDh, lipH, radius, source: null, estimate: null, skipped };
  }
  if (!(ball > 0 && Number.isFinite(ball))) return { lipDh, lipH, radius, source: null, estimate: null, skipped: null };
  o.onStatus?.(`estimating Lip(h) and Lip(Dh) on B(w0, ${Number(ball.toPrecision(6))}) (up to ${FLOW_LIP_BUDGET_MS / 1000} s; --no-lip skips it)`);
  let estimate: LipResult;
  try {
    estimate = lipschitz(m, { radius: ball, timeBudgetMs: FLOW_LIP_BUDGET_MS });
  } catch (e) {
    // A ball nobody gave (α far from lazy: √(T·R0)/α huge next to the weights) is no usage error
    // of the user's: the flow runs without the estimate and says why. A given radius is theirs.
    if (!(e instanceof LipUsageError) || radius !== null) throw e;
    const skipped = `no automatic Lipschitz estimate on the ball of Prop. 3.1, B(w0, √(T·R0)/α = ${Number(ball.toPrecision(6))}): ${e.message}; at α = ${o.alpha} the flow is far from the lazy regime the bounds describe`;
    return { lipDh, lipH, radius, source: null, estimate: null, skipped };
  }
  return { lipDh: estimate.lipDh.upper, lipH: estimate.lipH.upper, radius: ball, source: 'estimated', estimate, skipped: null };
}
