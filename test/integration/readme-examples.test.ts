import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess } from '../helpers/server-process';

/**
 * The README's examples work as printed for a newcomer with nothing but Node
 * and curl: every block marked `<!-- runnable -->` runs, in order, in one bash
 * with `set -euo pipefail` (a variable used before it is set fails), against
 * the server started the quick-start way, with no jq on the PATH.
 */

const ROOT = join(__dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const ADMIN_TOKEN = 'readme-admin-token-0123456789';

function runnableBlocks(md: string): string[] {
  return [...md.matchAll(/<!-- runnable -->\n```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** A PATH with every program of the real one except those named. */
function pathWithout(names: string[]): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'waitroom-path-'));
  const seen = new Set<string>(names);
  for (const d of (process.env.PATH ?? '').split(':')) {
    let entries: string[] = [];
    try {
      entries = readdirSync(d);
    } catch {
      continue;
    }
    for (const e of entries) {
      if (seen.has(e)) continue;
      seen.add(e);
      symlinkSync(join(d, e), join(dir, e));
    }
  }
  return { dir, path: dir };
}

let server: ServerProcess;

beforeAll(async () => {
  // The embedded store and the quick start's demo setting, as the README runs it.
  server = await ServerProcess.start({ REDIS_URL: '', WINDOW_SIZE: '1', WINDOW_INTERVAL: '5', ADMIN_TOKEN, JWT_SECRET: '' });
});

afterAll(async () => {
  await server?.stop();
});

it('uses no jq in any shell example', () => {
  const sh = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(sh.length).toBeGreaterThan(10);
  expect(sh.filter((b) => /\bjq\b/.test(b))).toEqual([]);
});

it('runs every runnable example in order, in one shell, with only curl and node', () => {
  const blocks = runnableBlocks(README);
  expect(blocks.length).toBeGreaterThanOrEqual(6);
  const script = ['set -euo pipefail', ...blocks.map((b) => b.replace(/(http:\/\/)?localhost:8080/g, server.url))].join('\n');
  const { dir, path } = pathWithout(['jq']);
  try {
    const r = spawnSync('bash', ['-c', script], {
      // ADMIN_TOKEN as the README exports it before `npm start`; nothing else from this shell.
      env: { PATH: path, HOME: tmpdir(), ADMIN_TOKEN },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    // /join, /status with the kept token, /window, the gate without a pass, the operator view.
    expect(r.stdout).toMatch(/"token":"ey/);
    expect(r.stdout).toMatch(/"status":"waiting","ahead":\d+/);
    expect(r.stdout).toMatch(/"pollAfterSeconds":\d+/);
    expect(r.stdout).toMatch(/"nextTickInMs":\d+[,}]/);
    expect(r.stdout).toMatch(/(^|})401$/m);
    expect(r.stdout).toMatch(/"windowEnd":\d+/);
    expect(r.stdout).toContain('"leader"');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
