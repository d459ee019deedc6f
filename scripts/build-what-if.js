// Bundles the console's "what if" Web Worker (internal/simulate/browser/what-if-worker.ts):
// the simulator's own modules (scenario, arrivals, simulation, summary) and the server code
// they run (the embedded store, state cache, lease, ticker, ticket batcher), for the browser.
// Node built-ins they import are mapped to small browser equivalents (internal/simulate/browser).
// Run by `npm run build` after tsc; writes dist/internal/web/static/what-if.js, which the
// console serves as admin/what-if.js. Prints the size (docs/simulator.md quotes it).
const path = require('node:path');
const { build } = require('esbuild');

const root = path.join(__dirname, '..');
const shims = path.join(root, 'internal', 'simulate', 'browser');

async function buildWhatIf(outfile = path.join(root, 'dist', 'internal', 'web', 'static', 'what-if.js')) {
  const r = await build({
    entryPoints: [path.join(shims, 'what-if-worker.ts')],
    outfile,
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    legalComments: 'none',
    metafile: true,
    alias: {
      'node:events': path.join(shims, 'node-events.ts'),
      'node:crypto': path.join(shims, 'node-crypto.ts'),
      'node:perf_hooks': path.join(shims, 'node-perf-hooks.ts'),
      util: path.join(shims, 'node-util.ts'),
    },
    plugins: [
      {
        // zod's `locales` namespace (every language's messages) is replaced by English alone.
        name: 'zod-english-only',
        setup(b) {
          b.onResolve({ filter: /\/locales\/index\.js$/ }, (a) => (/[\\/]zod[\\/]/.test(a.importer) ? { path: path.join(shims, 'zod-locales.ts') } : undefined));
        },
      },
    ],
    logLevel: 'warning',
  });
  return { outfile, bytes: r.metafile.outputs[path.relative(process.cwd(), outfile)]?.bytes ?? Object.values(r.metafile.outputs)[0].bytes };
}

module.exports = { buildWhatIf };

if (require.main === module) {
  buildWhatIf(process.argv[2]).then(
    (r) => process.stdout.write(`what-if worker bundled: ${path.relative(root, r.outfile)} (${(r.bytes / 1024).toFixed(0)} KiB)\n`),
    (err) => {
      process.stderr.write(`build-what-if: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}
