// @ts-check
// The visitor journey at a ramping arrival rate: join, poll /status at the
// pace the server asks until admitted, then claim the pass. Arrivals ramp to
// RATE visitors/s (default 50) over RAMP (2m), hold for HOLD (5m), then stop.
//   k6 run -e WAITROOM_URL=http://$(minikube ip):30080 -e RATE=20 loadtest/journey.js
// Visitors wait for real: with WINDOW_SIZE=S per WINDOW_INTERVAL=T the queue
// admits S/T per second, so keep RATE near that or raise MAX_WAIT.
import { firstTicket, lastTicketAfterRun, visit, visitorVUs } from './lib/visitor.js';
import { summaryHandler } from './lib/summary.js';
import { thresholds } from './lib/thresholds.js';

const RATE = Number(__ENV.RATE || 50);
const MAX_WAIT = Number(__ENV.MAX_WAIT || 300);

export const options = {
  scenarios: {
    journey: {
      executor: 'ramping-arrival-rate',
      startRate: 1,
      timeUnit: '1s',
      // Each visitor waits up to MAX_WAIT s: enough VUs for RATE arrivals that long.
      ...visitorVUs(RATE, MAX_WAIT),
      stages: [
        { target: RATE, duration: __ENV.RAMP || '2m' },
        { target: RATE, duration: __ENV.HOLD || '5m' },
        { target: 0, duration: '30s' },
      ],
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
export const handleSummary = summaryHandler('journey');
