/**
 * Backend selection. Every backend implements `Backend` and passes the same kernel tests; the
 * first available one in `BACKENDS` (fastest first) is the default, and `NTK_BACKEND=<name>`
 * forces one.
 */
import type { Backend } from './backend.ts';
import { wasmBackend } from './backend-wasm.ts';
import { jsBackend } from './kernels-js.ts';

/**
 * The registry, in order of preference: a faster backend goes before a slower one. Each
 * factory returns null when its backend cannot run here (e.g. dist/kernels.wasm missing).
 * `js` is always available and last.
 */
const BACKENDS: readonly (readonly [string, () => Backend | null])[] = [
  ['wasm', wasmBackend],
  ['js', () => jsBackend],
];

let chosen: Backend | null = null;

/** The names of the backends that can run on this machine, in order of preference. */
export function availableBackends(): string[] {
  return BACKENDS.filter(([, make]) => make() !== null).map(([name]) => name);
}

/** The backend called `name`, or null if there is none or it cannot run here. */
export function backendByName(name: string): Backend | null {
  const entry = BACKENDS.find(([n]) => n === name);
  return entry ? entry[1]() : null;
}

/** The backend used when none is given: `NTK_BACKEND` if set, else the first available. */
export function defaultBackend(): Backend {
  if (chosen) return chosen;
  const forced = process.env.NTK_BACKEND;
  let b: Backend | null = null;
  if (forced) {
    b = backendByName(forced);
    if (!b) throw new Error(`NTK_BACKEND=${forced} is not available here (available: ${availableBackends().join(', ')})`);
  } else {
    for (const [, make] of BACKENDS) {
      b = make();
      if (b) break;
    }
  }
  chosen = b ?? jsBackend;
  return chosen;
}
