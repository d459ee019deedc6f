/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/ha starts whole Redis Clusters and Sentinel groups and kills their
  // primaries (about 40 s on two cores): `npm run test:ha` (jest.ha.config.js),
  // which .ci/run runs after `npm test`.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/ha/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // Integration tests start real redis-server and server processes; give them room
  // on a 2-core CI machine but fail loudly rather than hang.
  testTimeout: 30000,
  globalSetup: '<rootDir>/test/helpers/global-setup.js',
  reporters: ['default', ['<rootDir>/test/helpers/summary-reporter.js', {}]],
};
