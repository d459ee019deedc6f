// @ts-check
// Smoke test: one visitor, a few iterations, to prove the deployment answers
// before a real load test. Minutes, not hours:
//   k6 run -e WAITROOM_URL=http://127.0.0.1:8080 loadtest/smoke.js
import { check } from 'k6';
import http from 'k6/http';
import { BASE_URL, firstTicket, joinAndCheck, lastTicketAfterRun } from './lib/visitor.js';
import { summaryHandler } from './lib/summary.js';
import { thresholds } from './lib/thresholds.js';

export const options = {
  scenarios: {
    smoke: { executor: 'shared-iterations', vus: 1, iterations: 20, maxDuration: '1m' },
  },
  thresholds: thresholds(),
};

export function setup() {
  return firstTicket();
}

/** @param {{ firstTicket: number }} data */
export default function (data) {
  joinAndCheck(data);
  const bad = http.get(`${BASE_URL}/status`, { headers: { Authorization: 'Bearer not-a-token' }, tags: { name: 'status-bad' }, responseCallback: http.expectedStatuses(401) });
  check(bad, { 'bad token: 401 invalid_token': (r) => r.status === 401 && r.json('error.code') === 'invalid_token' });
  check(http.get(`${BASE_URL}/livez`, { tags: { name: 'livez' } }), { 'livez: 200': (r) => r.status === 200 });
}

export const teardown = lastTicketAfterRun;
export const handleSummary = summaryHandler('smoke');
