// @ts-check
// handleSummary for every script: k6's usual text summary, plus the
// cross-VU distinct-ticket verdict and a JSON copy for CI.
import { textSummary } from 'https://jslib.k6.io/k6-summary/0.1.0/index.js';
import { distinctTicketsVerdict } from './thresholds.js';

/**
 * @param {string} name the script's name, for the JSON file
 * @returns {(data: any) => Record<string, string>}
 */
export function summaryHandler(name) {
  return (data) => {
    const m = data.metrics;
    const first = Number(data.setup_data?.firstTicket);
    const last = Number(m.ticket_range_end?.values?.max);
    const verdict = Number.isFinite(first) && Number.isFinite(last)
      ? distinctTicketsVerdict({ first, last, count: Number(m.tickets_joined?.values?.count ?? 0), sum: Number(m.ticket_sum?.values?.count ?? 0) })
      : { distinct: false, reason: 'setup or teardown did not get a ticket' };
    const line = `\n  distinct tickets: ${verdict.distinct ? 'OK' : 'FAILED'} (${verdict.reason})\n`;
    return {
      stdout: textSummary(data, { indent: ' ', enableColors: true }) + line,
      [`loadtest-results/${name}.json`]: JSON.stringify({ distinctTickets: verdict, metrics: m }, null, 2),
    };
  };
}
