import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Workers = cores; CI machines have 2.
    pool: 'forks',
    // Compiles dist/kernels.wasm if it is missing or older than its WAT source, so the wasm
    // backend's tests always run the current kernels.
    globalSetup: ['test/global-setup.ts'],
  },
});
