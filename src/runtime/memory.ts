/** The limits on the size of a result, shared by the evaluator, dense linear algebra and the hierarchy. */

/**
 * Refuses work whose result alone would not fit: size in bytes and what to try instead.
 * @example try { kernel(model, 6) } catch (e) { if (e instanceof MemoryError) console.error(e.message) } // names the --slice that fits
 */
export class MemoryError extends Error {}

/** The largest Jacobian or kernel held in memory at once (bytes). */
export const MAX_RESULT_BYTES = 4 * 1024 ** 3;
