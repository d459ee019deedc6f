import { TestNginx } from '../helpers/nginx';
import { TestRedis } from '../helpers/redis-server';
import { MissingToolError, chromiumPath, findOnPath, requireTool } from '../helpers/tools';

/** The test helpers name a missing program and its package at once, instead of ENOENT or a timeout. */

describe('requireTool', () => {
  it.each([
    ['redis-server', 'apt-get install -y redis-server'],
    ['nginx', 'apt-get install -y nginx-light'],
  ] as const)('names the Debian package of a missing %s', (tool, hint) => {
    expect(() => requireTool(tool, '/nonexistent-dir')).toThrow(MissingToolError);
    expect(() => requireTool(tool, '/nonexistent-dir')).toThrow(hint);
  });

  it('finds a program that is on PATH', () => {
    expect(findOnPath('node', process.env.PATH)).toMatch(/\/node$/);
  });
});

describe('chromiumPath', () => {
  it('takes CHROMIUM_PATH when it is an executable', () => {
    expect(chromiumPath({ CHROMIUM_PATH: process.execPath })).toBe(process.execPath);
  });

  it('refuses a CHROMIUM_PATH that is not one, saying which', () => {
    expect(() => chromiumPath({ CHROMIUM_PATH: '/nonexistent/chrome' })).toThrow('CHROMIUM_PATH=/nonexistent/chrome is not an executable file');
  });
});

describe('helpers without their program', () => {
  const path = process.env.PATH;
  afterEach(() => {
    process.env.PATH = path;
  });

  it('TestRedis.start fails at once with the package to install', async () => {
    process.env.PATH = '/nonexistent-dir';
    const started = Date.now();
    await expect(TestRedis.start()).rejects.toThrow('redis-server is needed by this test but was not found: install the Debian package redis-server');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('TestNginx.start fails at once with the package to install', async () => {
    process.env.PATH = '/nonexistent-dir';
    const started = Date.now();
    await expect(TestNginx.start({ WAITROOM_UPSTREAM: '127.0.0.1:1', ORIGIN_UPSTREAM: '127.0.0.1:1' })).rejects.toThrow('install the Debian package nginx-light');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
