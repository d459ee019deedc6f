#!/usr/bin/env node
// Validates Kubernetes objects (multi-document YAML, as `kubectl kustomize`
// prints it) on stdin against the OpenAPI schemas shipped by the pinned
// kubernetes-models packages: the core API, the Prometheus operator's CRDs
// and the External Secrets Operator's CRDs. An object whose apiVersion/kind
// has no model is an error too: nothing is let through unchecked.
//
//   kubectl kustomize k8s/overlays/production | node scripts/validate-k8s.mjs
//
// Prints one JSON line { objects, errors: [{ object, message }] } and exits 1
// when any object is invalid. An .mjs file because kubernetes-models is ES
// modules only; test/deploy/k8s.test.ts runs it as a child process.
import { parseAllDocuments } from 'yaml';

/** The npm package whose models cover an API group. */
function packageFor(group) {
  if (group === 'monitoring.coreos.com') return '@kubernetes-models/prometheus-operator';
  if (group === 'external-secrets.io') return '@kubernetes-models/external-secrets';
  return 'kubernetes-models';
}

/**
 * The model version for an API version. The model packages are pinned to
 * releases that support Node.js 20 (package.json "engines"; later ones want
 * Node 22 and make `npm ci` print EBADENGINE): their External Secrets models
 * stop at v1beta1, and the operator's v1 API is v1beta1 promoted with the same
 * schema (ESO 0.17), so v1 objects are checked against the v1beta1 schema with
 * apiVersion rewritten.
 */
const SAME_SCHEMA = { 'external-secrets.io/v1': 'external-secrets.io/v1beta1' };

async function modelFor(apiVersion, kind) {
  const [group, version] = (SAME_SCHEMA[apiVersion] ?? apiVersion).includes('/') ? (SAME_SCHEMA[apiVersion] ?? apiVersion).split('/') : ['', apiVersion];
  const dir = group === '' ? version : `${group}/${version}`;
  const mod = await import(`${packageFor(group)}/${dir}/${kind}`);
  return mod[kind];
}

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const docs = parseAllDocuments(Buffer.concat(chunks).toString('utf8'));
  const errors = [];
  let objects = 0;
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      errors.push({ object: '(yaml)', message: doc.errors.map((e) => e.message).join('; ') });
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    objects++;
    const name = `${obj.apiVersion}/${obj.kind} ${obj.metadata?.name ?? '(no name)'}`;
    let Model;
    try {
      Model = await modelFor(String(obj.apiVersion), String(obj.kind));
    } catch {
      errors.push({ object: name, message: 'no schema for this apiVersion and kind' });
      continue;
    }
    if (typeof Model !== 'function') {
      errors.push({ object: name, message: 'no schema for this apiVersion and kind' });
      continue;
    }
    if (obj.kind === 'Secret' && obj.data) {
      // kustomize prints long base64 values as block scalars wrapped at 76
      // columns; Go's base64 decoder in the API server ignores those line
      // breaks, the schema's "byte" pattern does not.
      for (const k of Object.keys(obj.data)) obj.data[k] = String(obj.data[k]).replace(/[\r\n]/g, '');
    }
    try {
      new Model(SAME_SCHEMA[obj.apiVersion] ? { ...obj, apiVersion: SAME_SCHEMA[obj.apiVersion] } : obj).validate();
    } catch (err) {
      errors.push({ object: name, message: err instanceof Error ? err.message : String(err) });
    }
  }
  process.stdout.write(JSON.stringify({ objects, errors }) + '\n');
  process.exitCode = errors.length > 0 ? 1 : 0;
}

main().catch((err) => {
  process.stderr.write(`validate-k8s: ${err?.stack ?? err}\n`);
  process.exitCode = 2;
});
