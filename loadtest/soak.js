// @ts-check
// Soak: the full journey at a steady RATE (default 10/s) for DURATION
// (default 2h), to find leaks, slow drifts in latency, and trouble that only
// shows after many leader handovers or Redis AOF rewrites.
//   k6 run -e WAITROOM_URL=http://$(minikube ip):30080 -e DURATION=30m loadtest/soak.js
import { firstTicket, lastTicketAfterRun, visit, visitorVUs } from './lib/visitor.js';
import { summaryHandler } from './lib/summary.js';
import { thresholds } from './lib/thresholds.js';

const RATE = Number(__ENV.RATE || 10);
const MAX_WAIT = Number(__ENV.MAX_WAIT || 300);

export const options = {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '2h',
      ...visitorVUs(RATE, MAX_WAIT),
    },
  },
  thresholds: { ...thresholds(), 'checks{step:admitted}': ['rate>0.99'] },
};

export function setup() {
  return firstTicket();
}

/** @param {{ firstTicket: number }} data */
export default function (data) {
  visit(data, MAX_WAIT);
}

export const teardown = lastTicketAfterRun;
export const handleSummary = summaryHandler('soak');
