/**
 * `node:fs` in the browser bundle: an in-memory file system. The playground's worker puts the
 * model's data files (and the WASM kernels) here before calling the library, whose data loader
 * then reads them exactly as the command line reads real files. Writing is not supported.
 */
export const vfs = new Map<string, Uint8Array>();

function enoent(path: string): Error {
  const e = new Error(`ENOENT: no such file or directory, open '${path}'`) as Error & { code: string };
  e.code = 'ENOENT';
  return e;
}

export function readFileSync(path: string, encoding?: string | { encoding?: string }): Uint8Array | string {
  const bytes = vfs.get(String(path));
  if (!bytes) throw enoent(String(path));
  const enc = typeof encoding === 'string' ? encoding : encoding?.encoding;
  return enc ? new TextDecoder().decode(bytes) : bytes;
}

export function existsSync(path: string): boolean {
  return vfs.has(String(path));
}

function readOnly(): never {
  throw new Error('the browser playground cannot write files');
}
export const writeFileSync = readOnly, renameSync = readOnly, openSync = readOnly, mkdirSync = readOnly, rmSync = readOnly, unlinkSync = readOnly;
export const fsyncSync = readOnly, closeSync = readOnly, writeSync = readOnly, fchmodSync = readOnly, ftruncateSync = readOnly;
export const fstatSync = readOnly, readSync = readOnly, accessSync = readOnly, readdirSync = readOnly, appendFileSync = readOnly, copyFileSync = readOnly;
export const constants = { X_OK: 1, W_OK: 2, R_OK: 4, F_OK: 0 };
export function statSync(path: string): { size: number; isDirectory: () => boolean; isFile: () => boolean; mode: number } {
  const bytes = vfs.get(String(path));
  if (!bytes) throw enoent(String(path));
  return { size: bytes.length, isDirectory: () => false, isFile: () => true, mode: 0o644 };
}
export default { readFileSync, existsSync, statSync, writeFileSync, renameSync, openSync, mkdirSync, rmSync, unlinkSync, fsyncSync, closeSync, writeSync, fchmodSync, ftruncateSync, fstatSync, readSync, accessSync, readdirSync, appendFileSync, copyFileSync, constants };
