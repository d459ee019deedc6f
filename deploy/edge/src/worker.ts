/**
 * The waitroom edge gate: a Cloudflare Worker that checks each visitor's pass
 * before the request reaches the origin (docs/admission.md, "At the edge").
 * This file only wires: bindings to config, one gate per isolate.
 */
import { toErrorBody } from '../../../internal/errors/errors';
import { EdgeConfigError, ENV_NAMES, parseEdgeConfig, type Env } from './config';
import { EdgeGate } from './edge-gate';

let current: { readonly key: string; readonly gate: EdgeGate | EdgeConfigError } | undefined;

/** The isolate's gate, built on the first request (and again only if the bindings differ). */
function gateFor(env: Env): EdgeGate | EdgeConfigError {
  const key = JSON.stringify(ENV_NAMES.map((n) => env[n] ?? null));
  if (current?.key !== key) {
    let gate: EdgeGate | EdgeConfigError;
    try {
      gate = new EdgeGate(parseEdgeConfig(env));
    } catch (err) {
      if (!(err instanceof EdgeConfigError)) throw err;
      console.error(`waitroom edge: ${err.message}`);
      gate = err;
    }
    current = { key, gate };
  }
  return current.gate;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const gate = gateFor(env);
    if (gate instanceof EdgeConfigError) {
      return new Response(JSON.stringify(toErrorBody(gate)), { status: gate.status, headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' } });
    }
    return gate.handle(request);
  },
} satisfies ExportedHandler<Env>;
