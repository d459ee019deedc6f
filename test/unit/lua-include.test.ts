import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lua } from '../../internal/store/scripts';

/**
 * The scripts' shared libraries (internal/store/lua/lib/) are put in at registration
 * wherever a script says `--#include <lib>`: every script Redis gets is self-contained.
 */
const DIR = join(__dirname, '..', '..', 'internal', 'store', 'lua');
const scripts = readdirSync(DIR).filter((f) => f.endsWith('.lua')).map((f) => f.slice(0, -4));

describe('Lua libraries included at registration', () => {
  it.each(scripts)('%s.lua is self-contained once its libraries are in', (name) => {
    const text = lua(name);
    expect(text).not.toMatch(/^--#include/m);
    // Each helper a library defines is defined once, and before its first use.
    for (const fn of ['int', 'arg', 'corrupt', 'takeBucket', 'bucketLimits']) {
      const defs = text.split(`local function ${fn}(`).length - 1;
      expect(defs).toBeLessThanOrEqual(1);
      const use = text.search(new RegExp(`(?<!function )\\b${fn}\\(`));
      if (use >= 0) expect(defs).toBe(1);
      if (defs === 1 && use >= 0) expect(text.indexOf(`local function ${fn}(`)).toBeLessThan(use);
    }
  });

  it('puts each library in where the line stands', () => {
    const raw = readFileSync(join(DIR, 'join.lua'), 'utf8');
    expect(raw).toMatch(/^--#include token-bucket$/m);
    expect(raw).toMatch(/^--#include checked-numbers$/m);
    const text = lua('join');
    expect(text).toContain(readFileSync(join(DIR, 'lib', 'token-bucket.lua'), 'utf8').trimEnd());
    expect(text).toContain(readFileSync(join(DIR, 'lib', 'checked-numbers.lua'), 'utf8').trimEnd());
  });
});
