// Tests are compiled by `tsc` into dist/ first and run as native ES modules
// (node --experimental-vm-modules), because @kubernetes/client-node 1.x is ESM-only.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/dist/'],
  testMatch: ['**/*.test.js'],
  transform: {},
  globalSetup: '<rootDir>/dist/test/env/jest-global-setup.js',
  globalTeardown: '<rootDir>/dist/test/env/jest-global-teardown.js',
  testTimeout: 120000,
  maxWorkers: 2,
  verbose: true,
  reporters: ['default', '<rootDir>/test/env/summary-reporter.cjs'],
};
