import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseCountsCsv } from './arrivals';
import { parseScenario, ScenarioError, type Scenario } from './scenario';

/** A scenario read from its JSON file, with the counts of a CSV arrival curve (its path relative to the scenario). */
export interface LoadedScenario {
  readonly scenario: Scenario;
  readonly csvCounts?: number[];
}

export async function loadScenario(path: string): Promise<LoadedScenario> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ScenarioError([`${path}: ${(err as Error).message}`]);
  }
  const scenario = parseScenario(raw);
  if (scenario.arrivals.kind !== 'csv') return { scenario };
  const file = resolve(dirname(path), scenario.arrivals.file);
  try {
    return { scenario, csvCounts: parseCountsCsv(await readFile(file, 'utf8')) };
  } catch (err) {
    throw new ScenarioError([`arrivals.file: ${file}: ${(err as Error).message}`]);
  }
}
