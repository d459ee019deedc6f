import { readFileSync } from 'node:fs';
import { README, configTable, readmeTable } from '../../scripts/config-table';

test('the README configuration table is generated from the config specs (npm run docs:config)', () => {
  expect(readmeTable(readFileSync(README, 'utf8'))).toBe(configTable());
});
