// Compiles the hand-written WebAssembly text of the SIMD kernels (src/runtime/wasm/kernels.wat)
// to dist/kernels.wasm with wabt. Run by scripts/build.mjs (so by `npm ci`'s prepare) and by the
// vitest global setup when the binary is missing or older than its source. A WAT error throws:
// the kernels are our source, so a build that cannot compile them must fail loudly.
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const watPath = resolve(root, 'src/runtime/wasm/kernels.wat');
export const wasmPath = resolve(root, 'dist/kernels.wasm');

/** Compiles kernels.wat to dist/kernels.wasm; returns the binary's size in bytes. */
export async function buildWasm() {
  const wabt = await (await import('wabt')).default();
  // Bytes, not a string: wabt's binding sizes a string by its UTF-16 length and would cut a
  // UTF-8 source with non-ASCII comments short. A fresh Uint8Array, not the Buffer itself: a
  // small Buffer is a view into a shared pool at a nonzero offset, which wabt does not honour.
  const text = new Uint8Array(readFileSync(watPath));
  const features = { simd: true, multi_value: true, bulk_memory: true };
  let mod;
  try {
    mod = wabt.parseWat('kernels.wat', text, features);
    mod.resolveNames();
    mod.validate(features);
  } catch (e) {
    throw new Error(`src/runtime/wasm/kernels.wat does not compile:\n${e instanceof Error ? e.message : String(e)}`);
  }
  const { buffer } = mod.toBinary({ log: false, write_debug_names: true });
  mod.destroy();
  // The engine must accept it too (wabt and V8 could disagree on a feature).
  new WebAssembly.Module(buffer);
  mkdirSync(dirname(wasmPath), { recursive: true });
  writeFileSync(wasmPath, buffer);
  return buffer.length;
}

/** Builds dist/kernels.wasm unless it exists and is newer than kernels.wat. */
export async function ensureWasm() {
  let fresh = false;
  try {
    fresh = statSync(wasmPath).mtimeMs >= statSync(watPath).mtimeMs;
  } catch {
    fresh = false;
  }
  if (!fresh) await buildWasm();
}
