// Tests are compiled by `tsc` into dist/ first and run as native ES modules
// (node --experimental-vm-modules), because @kubernetes/client-node (1.x and 2.x) is ESM-only.
//
// Two projects:
//   unit         test/unit/**: pure logic and in-process stores; no control plane, no servers, no global setup.
//   integration  test/integration/** and test/e2e/**: share one real control plane started by the global setup.
// `jest` runs both; `jest --selectProjects unit` (npm run test:unit) starts nothing.
const common = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.js'],
  transform: {},
};

export default {
  // a global option: jest ignores testTimeout inside a project
  testTimeout: 120000,
  maxWorkers: 2,
  verbose: true,
  reporters: ['default', '<rootDir>/test/env/summary-reporter.cjs'],
  projects: [
    {
      ...common,
      displayName: 'unit',
      roots: ['<rootDir>/dist/test/unit/'],
      setupFiles: ['<rootDir>/dist/test/env/unit-setup.js'],
    },
    {
      ...common,
      displayName: 'integration',
      roots: ['<rootDir>/dist/test/integration/', '<rootDir>/dist/test/e2e/'],
      globalSetup: '<rootDir>/dist/test/env/jest-global-setup.js',
      globalTeardown: '<rootDir>/dist/test/env/jest-global-teardown.js',
    },
  ],
};
