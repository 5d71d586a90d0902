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
  projects: [project('unit'), project('workflows'), project('integration'), project('e2e'), project('ops')],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  maxWorkers: 2,
};
