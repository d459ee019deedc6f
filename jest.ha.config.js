/** @type {import('jest').Config} */
// The high-availability suite (test/ha): real Redis Cluster and Sentinel groups,
// kill -9 of their primaries under join load. Run with `npm run test:ha`.
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testPathIgnorePatterns: ['/node_modules/'],
  testMatch: ['<rootDir>/test/ha/**/*.test.ts'],
  testTimeout: 120000,
};
