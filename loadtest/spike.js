// @ts-check
// A spike: a quiet queue, then SPIKE joins/s (default 500) within 10 s, held
// for a minute, then quiet again, like a sale opening. Each arrival joins and
// checks its status once (the sudden load is on /join).
//   k6 run -e WAITROOM_URL=http://$(minikube ip):30080 -e SPIKE=300 loadtest/spike.js
import { firstTicket, joinAndCheck, lastTicketAfterRun } from './lib/visitor.js';
import { summaryHandler } from './lib/summary.js';
import { thresholds } from './lib/thresholds.js';

const SPIKE = Number(__ENV.SPIKE || 500);

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: 5,
      timeUnit: '1s',
      preAllocatedVUs: Math.min(1000, SPIKE),
      maxVUs: Math.min(5000, SPIKE * 4),
      stages: [
        { target: 5, duration: '30s' },
        { target: SPIKE, duration: '10s' },
        { target: SPIKE, duration: '1m' },
        { target: 5, duration: '10s' },
        { target: 5, duration: '30s' },
      ],
    },
  },
  // A spike may queue requests briefly: wider latency bounds, same error budget.
  thresholds: thresholds({ joinP95: 250, joinP99: 1000, statusP95: 100, statusP99: 500 }),
};

export function setup() {
  return firstTicket();
}

/** @param {{ firstTicket: number }} data */
export default function (data) {
  joinAndCheck(data);
}

export const teardown = lastTicketAfterRun;
export const handleSummary = summaryHandler('spike');
