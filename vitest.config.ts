import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Workers = cores; CI machines have 2.
    pool: 'forks',
  },
});
