/**
 * Every suite in one jest run, so `npm test` ends with one pass/fail count. Postgres, Redis and a
 * Temporal dev server are started once for the run (test/support/global-setup.ts); workflow tests
 * each get a time-skipping test server of their own.
 */
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
      module: { type: 'commonjs' },
    },
  ],
};

const project = (name, extra = {}) => ({
  displayName: name,
  testEnvironment: 'node',
  transform,
  testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
  setupFiles: ['<rootDir>/test/support/setup-env.ts'],
  ...extra,
});

module.exports = {
  projects: ['unit', 'workflows', 'integration', 'e2e', 'chaos', 'ops', 'bench'].map((name) => project(name)),
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  maxWorkers: 2,
};
