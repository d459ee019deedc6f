// First: setImmediate must exist before the virtual clock and fake-timers load.
import './set-immediate';
import { ScenarioError } from '../scenario';
import { runWhatIf } from '../what-if';

/**
 * The console's "what if" Web Worker (bundled by scripts/build-what-if.js, served as
 * admin/what-if.js): one message in (a scenario), one out (the summary and chart series, or
 * the problems). Simulations run one at a time (one virtual clock per realm); the page sends
 * the next only after the answer.
 */
interface WorkerScope {
  onmessage: ((e: { data: { id: number; scenario: unknown } }) => void) | null;
  postMessage(v: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;

scope.onmessage = (e) => {
  const { id, scenario } = e.data;
  const started = performance.now();
  runWhatIf(scenario).then(
    (r) => scope.postMessage({ id, ok: true, scenario: r.scenario, summary: r.summary, series: r.series, ms: performance.now() - started }),
    (err: unknown) => scope.postMessage({ id, ok: false, problems: err instanceof ScenarioError ? err.problems : [String((err as Error).message ?? err)] }),
  );
};
