import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';

/**
 * One Node.js version everywhere: the Dockerfile's image, package.json
 * "engines", every installed package's own "engines" (so `npm ci` prints no
 * EBADENGINE warning) and the docs. Also the docs' `docker run` lines work on
 * Linux as printed.
 */

const ROOT = join(__dirname, '..', '..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const image = /^ARG NODE_IMAGE=(node:(\d+\.\d+\.\d+)-\S+)$/m.exec(dockerfile);
const nodeVersion = image?.[2] ?? '';
const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))].map((f) => ({ f, text: readFileSync(join(ROOT, f), 'utf8') }));

it('pins the image to one exact Node.js release that package.json "engines" accepts', () => {
  expect(nodeVersion).toMatch(/^20\.\d+\.\d+$/);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  expect(semver.satisfies(nodeVersion, pkg.engines.node)).toBe(true);
});

it('installs no package whose "engines" refuses that Node.js (npm ci would print EBADENGINE)', () => {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } | string[] }> };
  const refusing = Object.entries(lock.packages)
    .filter(([name, p]) => name !== '' && !Array.isArray(p.engines) && p.engines?.node && !semver.satisfies(nodeVersion, p.engines.node))
    .map(([name, p]) => `${name} wants node ${(p.engines as { node: string }).node}`);
  expect(refusing).toEqual([]);
});

it('names the same node image wherever the docs name one', () => {
  for (const { f, text } of docs) {
    for (const m of text.matchAll(/\bnode:(\d[\w.-]*)/g)) expect({ f, image: `node:${m[1]}` }).toEqual({ f, image: image![1] });
  }
});

it('adds host.docker.internal on Linux wherever a docker run uses it', () => {
  for (const { f, text } of docs) {
    for (const cmd of text.matchAll(/docker run(?:[^\n]*\\\n)*[^\n]*/g)) {
      if (cmd[0].includes('host.docker.internal')) expect({ f, addHost: cmd[0].includes('--add-host=host.docker.internal:host-gateway') }).toEqual({ f, addHost: true });
    }
  }
});
