import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The external programs the tests drive for real, each with the Debian
 * package that provides it. A missing one fails the test at once with one
 * message saying what to install, instead of a bare "spawn ENOENT" or a
 * 40-second wait for a server that never started.
 */
export const TOOLS = {
  'redis-server': 'redis-server',
  // Builds the Redis Clusters of test/ha (same package as redis-server).
  'redis-cli': 'redis-tools',
  // Makes the throwaway CA and certificate of the rediss:// test.
  openssl: 'openssl',
  nginx: 'nginx-light',
  chromium: 'chromium',
  kubectl: 'kubectl (bash .ci/run unpacks a pinned one)',
  promtool: 'prometheus',
  amtool: 'prometheus-alertmanager',
} as const;

export class MissingToolError extends Error {
  constructor(tool: string, how: string) {
    super(`${tool} is needed by this test but was not found: ${how}`);
    this.name = 'MissingToolError';
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of `name` on PATH (like `command -v`), or null. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (executable(p)) return p;
  }
  return null;
}

/** The path of a required tool on PATH; throws MissingToolError naming the package. */
export function requireTool(name: keyof typeof TOOLS, path?: string): string {
  const found = findOnPath(name, path);
  if (!found) throw new MissingToolError(name, `install the Debian package ${TOOLS[name]} (apt-get install -y ${TOOLS[name].split(' ')[0]}), or run bash .ci/run`);
  return found;
}

/**
 * Chromium for playwright-core: CHROMIUM_PATH if set, else Debian's
 * /usr/bin/chromium, else `chromium` on PATH.
 */
export function chromiumPath(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const given = env.CHROMIUM_PATH;
  if (given) {
    if (!executable(given)) throw new MissingToolError('chromium', `CHROMIUM_PATH=${given} is not an executable file`);
    return given;
  }
  if (executable('/usr/bin/chromium')) return '/usr/bin/chromium';
  const onPath = findOnPath('chromium', env.PATH);
  if (onPath) return onPath;
  throw new MissingToolError('chromium', 'install the Debian package chromium (apt-get install -y chromium), or set CHROMIUM_PATH to a Chromium or Chrome binary');
}
