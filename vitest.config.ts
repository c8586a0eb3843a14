import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One throwaway PostgreSQL server for the tests that run on both store engines.
    globalSetup: ['test/global-postgres.ts'],
    pool: 'forks',
    // CI machines have 2 cores; more workers only thrash.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Data-set caches of the tests stay out of the user's ~/.cache/gridrec.
    env: { GRID_CACHE_DIR: join(tmpdir(), `gridrec-test-cache-${process.pid}`) },
  },
});
