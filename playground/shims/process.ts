/**
 * The `process` global in the browser bundle (esbuild `inject`): the library reads a few
 * environment variables; here NTK_WASM names the kernels in the in-memory file system.
 */
export const WASM_PATH = '/__ntk/kernels.wasm';
export const process = {
  env: { NTK_WASM: WASM_PATH, NTK_BACKEND: 'wasm' } as Record<string, string | undefined>,
  cwd: () => '/',
  platform: 'browser',
  versions: {} as Record<string, string>,
  hrtime: { bigint: () => BigInt(Math.round(performance.now() * 1e6)) },
  memoryUsage: () => ({ rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 }),
  stdout: { write: (s: string) => console.log(s) },
  stderr: { write: (s: string) => console.warn(s) },
};
