'use strict';
/**
 * autocannon with a different ticket or path on every request, for the runs over
 * many queues: the CLI sends one fixed request, so this runs autocannon's API in its
 * own process (pinned like the CLI run) and prints the same JSON the CLI's --json
 * prints. Usage: node load-tokens.js <spec.json>, where the spec holds url,
 * connections, durationSec, optional rate, and either tokens (GET with a bearer
 * token chosen at random per request) or paths (a path chosen at random per
 * request, with method). Loopback only; bounded by durationSec.
 */
const { readFileSync } = require('node:fs');
const autocannon = require('autocannon');

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
if (new URL(spec.url).hostname !== '127.0.0.1') throw new Error('loopback only');
const tokens = spec.tokens;
const paths = spec.paths;
autocannon(
  {
    url: spec.url,
    connections: spec.connections,
    duration: spec.durationSec,
    timeout: 10,
    ...(spec.rate ? { overallRate: spec.rate } : {}),
    requests: [
      paths
        ? {
            method: spec.method || 'GET',
            setupRequest: (req) => {
              req.path = paths[Math.floor(Math.random() * paths.length)];
              return req;
            },
          }
        : {
            method: 'GET',
            setupRequest: (req) => {
              req.headers = { ...req.headers, authorization: `Bearer ${tokens[Math.floor(Math.random() * tokens.length)]}` };
              return req;
            },
          },
    ],
  },
  (err, result) => {
    if (err) {
      process.stderr.write(`${err.stack || err}\n`);
      process.exit(1);
    }
    process.stdout.write(JSON.stringify(result) + '\n');
  },
);
