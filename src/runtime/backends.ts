/**
 * Backend selection. Every backend implements `Backend` and passes the same kernel tests; the
 * fastest available one is the default, and `NTK_BACKEND=<name>` forces one.
 */
import type { Backend } from './backend.ts';
import { jsBackend } from './kernels-js.ts';

const BACKENDS: Record<string, () => Backend | null> = {
  js: () => jsBackend,
};

let chosen: Backend | null = null;

/** The names of the backends that can run on this machine. */
export function availableBackends(): string[] {
  return Object.keys(BACKENDS).filter((name) => BACKENDS[name]!() !== null);
}

/** The backend used when none is given: `NTK_BACKEND` if set, else the fastest available. */
export function defaultBackend(): Backend {
  if (chosen) return chosen;
  const forced = process.env.NTK_BACKEND;
  let b: Backend | null = jsBackend;
  if (forced) {
    const make = BACKENDS[forced];
    b = make ? make() : null;
    if (!b) throw new Error(`NTK_BACKEND=${forced} is not available here (available: ${availableBackends().join(', ')})`);
  }
  chosen = b;
  return b;
}
