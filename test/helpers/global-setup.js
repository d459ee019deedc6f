// Builds dist/ once before the suites that spawn real server processes.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async () => {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: path.join(__dirname, '..', '..'),
    stdio: 'inherit',
  });
  execFileSync(process.execPath, [path.join(__dirname, '..', '..', 'scripts', 'copy-assets.js')], { stdio: 'inherit' });
  // The console's "what if" worker (the simulator bundled with esbuild), as `npm run build` makes it.
  execFileSync(process.execPath, [path.join(__dirname, '..', '..', 'scripts', 'build-what-if.js')], { stdio: 'inherit' });
};
