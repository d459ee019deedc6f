// Bundles the edge gate (deploy/edge/src/worker.ts) into one ES module, the way
// `wrangler deploy` does (esbuild, the workerd/worker/browser export conditions,
// so jose resolves to its WebCrypto build). Tests and `npm run bench:edge` run
// this bundle in workerd through Miniflare; `npm run build:edge` writes it to
// deploy/edge/dist/worker.js for a look at what would be deployed.
import { join } from 'node:path';
import { build } from 'esbuild';

export const EDGE_DIR = join(__dirname, '..', 'deploy', 'edge');

/** Writes the bundle to `outfile` and returns its path. */
export async function buildEdgeWorker(outfile: string = join(EDGE_DIR, 'dist', 'worker.js')): Promise<string> {
  await build({
    entryPoints: [join(EDGE_DIR, 'src', 'worker.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    logLevel: 'warning',
  });
  return outfile;
}

if (require.main === module) {
  buildEdgeWorker().then(
    (f) => process.stdout.write(`edge worker bundled: ${f}\n`),
    (err: unknown) => {
      process.stderr.write(`build-edge: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
