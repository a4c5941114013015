/**
 * Backend selection. Every backend implements `Backend` and passes the same kernel tests; the
 * first available one in `BACKENDS` (fastest first) is the default, and `NTK_BACKEND=<name>`
 * forces one.
 */
import type { Backend } from './backend.ts';
import { nativeBackend } from './backend-native.ts';
import { wasmBackend } from './backend-wasm.ts';
import { jsBackend } from './kernels-js.ts';

/** In order of preference; each factory returns null when its backend cannot run here. */
const BACKENDS: readonly (readonly [name: string, make: () => Backend | null])[] = [
  ['native', nativeBackend],
  ['wasm', wasmBackend],
  ['js', () => jsBackend],
];

let chosen: Backend | null = null;

/**
 * `NTK_BACKEND` names a backend that is unknown or cannot run here (the CLI's exit code 2).
 * @example // NTK_BACKEND=cuda node script.mjs
 *   try { defaultBackend() } catch (e) { e instanceof BackendUnavailableError } // 'NTK_BACKEND=cuda is not available here (available: native, wasm, js)'
 */
export class BackendUnavailableError extends Error {}

/**
 * The names of the backends that can run on this machine, fastest first.
 * @example availableBackends()   // ['native', 'wasm', 'js'] with the OpenBLAS addon built, else ['wasm', 'js']
 */
export function availableBackends(): string[] {
  return BACKENDS.filter(([, make]) => make() !== null).map(([name]) => name);
}

/** The backend called `name`, or null if it is unknown or cannot run here. */
export function backendByName(name: string): Backend | null {
  const entry = BACKENDS.find(([n]) => n === name);
  return entry ? entry[1]() : null;
}

/**
 * The backend used when none is given: `NTK_BACKEND` if set, else the fastest available.
 * @example defaultBackend().name   // 'native', 'wasm' or 'js'
 */
export function defaultBackend(): Backend {
  if (chosen) return chosen;
  const forced = process.env.NTK_BACKEND;
  let b: Backend | null = null;
  if (forced) {
    b = backendByName(forced);
    if (!b) throw new BackendUnavailableError(`NTK_BACKEND=${forced} is not available here (available: ${availableBackends().join(', ')})`);
  } else {
    for (const [, make] of BACKENDS) if ((b = make())) break;
  }
  chosen = b ?? jsBackend;
  return chosen;
}
