// Copies the runtime files tsc does not emit (Lua scripts, static pages) into dist/,
// keeping their paths, so `node dist/cmd/server/main.js` finds them next to the code.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const exts = new Set(['.lua', '.html', '.css', '.js', '.json', '.svg', '.png', '.ico', '.webmanifest', '.txt']);

function walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p);
    else if (exts.has(path.extname(entry.name)) && !entry.name.endsWith('.ts')) {
      const rel = path.relative(root, p);
      // .js files under internal/ are hand-written browser assets, not tsc output.
      const dest = path.join(root, 'dist', rel);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(p, dest);
    }
  }
}
walk(path.join(root, 'internal'));
