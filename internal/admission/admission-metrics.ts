import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Admission metrics, registered on the replica's one registry (so /metrics shows
 * them). Label values are bounded: claim results and gate codes are fixed sets.
 */
export class AdmissionMetrics {
  readonly claims: Counter<'result'>;
  readonly gate: Counter<'result'>;
  readonly done: Counter<'outcome'>;
  readonly keyReloadErrors: Counter;
  readonly keys: Gauge;
  readonly revoked: Gauge;

  constructor(registry: Registry, sources: { keys: () => number; revoked: () => number }) {
    this.claims = new Counter({
      name: 'waitroom_pass_claims_total',
      help: 'POST /claim outcomes: issued, same (repeat claim answered with the stored pass), refused, waiting, expired.',
      labelNames: ['result'] as const,
      registers: [registry],
    });
    this.gate = new Counter({
      name: 'waitroom_gate_decisions_total',
      help: 'GET /verify decisions: allowed, or the refusal code (pass_missing, pass_invalid, pass_expired, ...).',
      labelNames: ['result'] as const,
      registers: [registry],
    });
    this.done = new Counter({
      name: 'waitroom_passes_done_total',
      help: 'Passes the site reported done on this replica, by outcome.',
      labelNames: ['outcome'] as const,
      registers: [registry],
    });
    this.keyReloadErrors = new Counter({
      name: 'waitroom_pass_key_reload_errors_total',
      help: 'Re-reads of PASS_KEYS_DIR that failed (the previous keys stay in use).',
      registers: [registry],
    });
    this.keys = new Gauge({
      name: 'waitroom_pass_keys',
      help: 'Pass keys published in the JWKS.',
      registers: [registry],
      collect: () => this.keys.set(sources.keys()),
    });
    this.revoked = new Gauge({
      name: 'waitroom_revoked_passes',
      help: 'Unexpired passes marked done, as held in this replica\'s revocation set.',
      registers: [registry],
      collect: () => this.revoked.set(sources.revoked()),
    });
  }
}
