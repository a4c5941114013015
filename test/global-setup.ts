/**
 * Vitest global setup: builds dist/kernels.wasm from src/runtime/wasm/kernels.wat when the
 * binary is missing or stale (`npm ci` builds it too, through `prepare`).
 */
// @ts-expect-error: a plain .mjs build script without type declarations
import { ensureWasm } from '../scripts/wasm.mjs';

export default async function setup(): Promise<void> {
  await (ensureWasm as () => Promise<void>)();
}
