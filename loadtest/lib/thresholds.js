// @ts-check
// Pass/fail bounds shared by the k6 scripts; no k6 import, so
// test/deploy/loadtest.test.ts can load it in Node and check the bounds.

/**
 * The thresholds every script carries: under 1% failed requests, p95 and p99
 * latency per endpoint (requests are tagged with `name`), almost every check
 * passing, and no ticket anomaly (a ticket not above the one the same visitor
 * got before, or not above the ticket issued in setup()).
 * Defaults: /join signs a JWT after one Redis INCRBY per batch, /status is pure
 * arithmetic on cached state; both answer in about a millisecond on the server,
 * so 100/250 ms (join) and 50/150 ms (status) leave room for the network and
 * the load balancer, while still catching a replica that queues requests.
 * @param {{ joinP95?: number, joinP99?: number, statusP95?: number, statusP99?: number }} [bounds] milliseconds
 * @returns {Record<string, string[]>}
 */
export function thresholds(bounds = {}) {
  const b = { joinP95: 100, joinP99: 250, statusP95: 50, statusP99: 150, ...bounds };
  return {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{name:join}': [`p(95)<${b.joinP95}`, `p(99)<${b.joinP99}`],
    'http_req_duration{name:status}': [`p(95)<${b.statusP95}`, `p(99)<${b.statusP99}`],
    checks: ['rate>0.99'],
    ticket_anomalies: ['count==0'],
  };
}

/**
 * Whether the tickets that one run got can all be distinct, from aggregates
 * that k6 keeps across VUs (VUs share no memory): `first` is the ticket setup()
 * got before any VU started, `last` the one teardown() got after all finished,
 * `count` and `sum` are over every successful join in between. Tickets come
 * from one counter, so distinct tickets lie in (first, last): more of them than
 * that range holds is a certain duplicate (pigeonhole), and their sum cannot
 * exceed the sum of the whole range; when every ticket in the range was
 * returned, the sum must equal it exactly.
 * @param {{ first: number, last: number, count: number, sum: number }} t
 * @returns {{ distinct: boolean, reason: string }}
 */
export function distinctTicketsVerdict(t) {
  const room = t.last - t.first - 1;
  const rangeSum = (room * (t.first + 1 + (t.last - 1))) / 2;
  if (!(room >= 0)) return { distinct: false, reason: `ticket counter went backwards: ${t.first} then ${t.last}` };
  if (t.count > room) return { distinct: false, reason: `${t.count} tickets returned but only ${room} issued between ${t.first} and ${t.last}` };
  if (t.sum > rangeSum) return { distinct: false, reason: `ticket sum ${t.sum} exceeds the sum ${rangeSum} of all tickets issued in the run` };
  if (t.count === room && t.sum !== rangeSum) return { distinct: false, reason: `all ${room} tickets returned but their sum ${t.sum} is not ${rangeSum}` };
  return { distinct: true, reason: `${t.count} tickets, all within the ${room} issued between ${t.first} and ${t.last}` };
}
