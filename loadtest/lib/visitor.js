// @ts-check
// One waiting-room visitor, as the browser client behaves: join, poll /status
// at the pace the server asks for (pollAfterSeconds / Retry-After) until the
// ticket is active or expired, then claim the admission pass.
import { check, fail, sleep } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';

/** The waitroom under test, e.g. `k6 run -e WAITROOM_URL=http://$(minikube ip):30080 ...`. */
export const BASE_URL = (__ENV.WAITROOM_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');

const ticketAnomalies = new Counter('ticket_anomalies');
const ticketsJoined = new Counter('tickets_joined');
const ticketSum = new Counter('ticket_sum');
const timeToActive = new Trend('time_to_active', true);
const claims = new Counter('claims');
// Set once, in teardown(); k6 only allows creating metrics in the init context.
const ticketRangeEnd = new Trend('ticket_range_end');

/** Join's and claim's expected answers; 404 from /claim means a build without admission passes. */
const joinOk = http.expectedStatuses(201);
const claimOk = http.expectedStatuses(200, 404);

// The last ticket this VU got: tickets come from one counter and a VU's joins
// are sequential, so each must be above the previous one.
let lastTicket = 0;

/**
 * @typedef {{ token: string, ticket: number, status: string, etaSeconds: number, expiresAt?: string }} Joined
 * @typedef {{ status: string, ticket: number, pollAfterSeconds: number, etaSeconds: number }} Status
 */

/**
 * Joins the queue once; records the ticket for the distinct-ticket checks.
 * @param {number} firstTicket the ticket setup() got; every later one is larger
 * @returns {Joined | undefined}
 */
export function join(firstTicket) {
  const res = http.post(`${BASE_URL}/join`, null, { tags: { name: 'join' }, responseCallback: joinOk });
  const ok = check(res, {
    'join: 201': (r) => r.status === 201,
    'join: ticket and token': (r) => r.status === 201 && typeof r.json('ticket') === 'number' && typeof r.json('token') === 'string',
  });
  if (!ok) return undefined;
  const body = /** @type {Joined} */ (res.json());
  const inOrder = body.ticket > lastTicket && body.ticket > firstTicket;
  check(body, { 'join: ticket above every earlier one': () => inOrder });
  if (!inOrder) ticketAnomalies.add(1, { ticket: String(body.ticket) });
  lastTicket = Math.max(lastTicket, body.ticket);
  ticketsJoined.add(1);
  ticketSum.add(body.ticket);
  return body;
}

/**
 * One GET /status.
 * @param {string} token
 * @returns {Status | undefined}
 */
export function status(token) {
  const res = http.get(`${BASE_URL}/status`, { headers: { Authorization: `Bearer ${token}` }, tags: { name: 'status' } });
  const ok = check(res, {
    'status: 200': (r) => r.status === 200,
    'status: no-store': (r) => r.headers['Cache-Control'] === 'no-store',
  });
  return ok ? /** @type {Status} */ (res.json()) : undefined;
}

/**
 * Polls until active or expired, sleeping as the server asks (bounded to
 * 0.5-10 s per poll) and for at most maxWaitSeconds in all.
 * @param {Joined} joined
 * @param {number} maxWaitSeconds
 * @returns {string} the final status, or 'gave-up' / 'error'
 */
export function waitUntilAdmitted(joined, maxWaitSeconds) {
  const started = Date.now();
  let st = joined.status;
  let pollAfter = 1;
  while (st === 'waiting') {
    if ((Date.now() - started) / 1000 > maxWaitSeconds) return 'gave-up';
    sleep(Math.min(10, Math.max(0.5, pollAfter)));
    const s = status(joined.token);
    if (!s) return 'error';
    st = s.status;
    pollAfter = s.pollAfterSeconds;
  }
  if (st === 'active') timeToActive.add(Date.now() - started);
  return st;
}

/**
 * POST /claim for an active ticket: 200 with a pass, or 404 on a build
 * without the admission feature (then the visitor goes to TARGET_URL).
 * @param {string} token
 */
export function claim(token) {
  const res = http.post(`${BASE_URL}/claim`, null, { headers: { Authorization: `Bearer ${token}` }, tags: { name: 'claim' }, responseCallback: claimOk });
  check(res, {
    'claim: pass or no admission feature': (r) => (r.status === 200 && typeof r.json('pass') === 'string') || r.status === 404,
  });
  if (res.status === 200) claims.add(1);
}

/**
 * The whole journey of one visitor: join, wait until admitted (at most
 * maxWaitSeconds), then claim the pass. Used by the journey and soak scenarios.
 * @param {{ firstTicket: number }} data
 * @param {number} maxWaitSeconds
 */
export function visit(data, maxWaitSeconds) {
  const joined = join(data.firstTicket);
  if (!joined) return;
  const final = waitUntilAdmitted(joined, maxWaitSeconds);
  check(final, { 'admitted while the ticket was valid': (f) => f === 'active' }, { step: 'admitted' });
  if (final === 'active') claim(joined.token);
}

/**
 * Join, then read the status once and check it is the same ticket: the
 * iteration of the smoke and spike scenarios.
 * @param {{ firstTicket: number }} data
 */
export function joinAndCheck(data) {
  const joined = join(data.firstTicket);
  if (!joined) return;
  const s = status(joined.token);
  check(s, { 'status: same ticket': (x) => x !== undefined && x.ticket === joined.ticket });
}

/**
 * VU pool for visitors who each wait up to maxWaitSeconds, arriving at `rate` per second.
 * @param {number} rate
 * @param {number} maxWaitSeconds
 */
export function visitorVUs(rate, maxWaitSeconds) {
  return {
    preAllocatedVUs: Math.min(2000, rate * 10),
    maxVUs: Math.min(20000, rate * (maxWaitSeconds + 10)),
    gracefulStop: `${maxWaitSeconds + 30}s`,
  };
}

/** setup(): the service is up, and the ticket issued before any VU runs. */
export function firstTicket() {
  const ready = http.get(`${BASE_URL}/readyz`, { tags: { name: 'readyz' } });
  if (ready.status !== 200) fail(`${BASE_URL}/readyz answered ${ready.status}: not ready for a load test`);
  const res = http.post(`${BASE_URL}/join`, null, { tags: { name: 'join' } });
  if (res.status !== 201) fail(`setup join answered ${res.status}`);
  return { firstTicket: /** @type {number} */ (res.json('ticket')), queue: /** @type {string} */ (res.json('queue')) };
}

/**
 * teardown(): the ticket issued after every VU finished, as a metric so the
 * summary can bound the run's tickets.
 * @param {{ firstTicket: number }} data
 */
export function lastTicketAfterRun(data) {
  const res = http.post(`${BASE_URL}/join`, null, { tags: { name: 'join' } });
  if (res.status !== 201) fail(`teardown join answered ${res.status}`);
  const last = /** @type {number} */ (res.json('ticket'));
  ticketRangeEnd.add(last);
  if (last <= data.firstTicket) exec.test.fail(`ticket counter went backwards during the run: ${data.firstTicket} then ${last}`);
}
