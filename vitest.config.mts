import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'lib/**/*.test.ts'],
    testTimeout: 30_000,
    // Metrics (EMF lines) are off in-process; the local stack's test reads them from its functions' logs.
    env: { LOG_LEVEL: 'ERROR', TABLE_NAME: 'qunfa-test-tasks', POWERTOOLS_METRICS_DISABLED: 'true' },
    hookTimeout: 180_000,
    // Integration files set process.env and module state: one file per worker, files isolated.
    pool: 'forks',
    fileParallelism: true,
  },
});
