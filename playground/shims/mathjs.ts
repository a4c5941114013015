/**
 * mathjs as a module of its own in the playground (chunks/mathjs.js, built by
 * scripts/playground.mjs): src/symbolic/closed-form.ts imports it on first use, so worker.js
 * does not carry it (derive's closed forms are the only users).
 */
export * from 'mathjs';
