import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { readKeyDir, generateKeyPem } from '../../internal/admission/pass-keys';
import { SAMPLE_SECRETS, describeConfig, loadConfig } from '../../internal/config/config';
import { stripQueuePrefix } from '../../internal/http/queue-prefix';
import { exportedMetricNames, metricNamesIn } from '../helpers/metric-names';

/**
 * Every overlay under k8s/overlays renders with `kubectl kustomize` (the
 * kustomize built into kubectl; .ci/run installs a pinned kubectl where none
 * is present), every rendered object validates against the pinned Kubernetes
 * and CRD schemas (scripts/validate-k8s.mjs, kubernetes-models), and the
 * project's own rules hold: pinned images, probes on the real endpoints,
 * limits, a hardened security context, a shutdown budget that matches the
 * server's, config the server accepts, and no plaintext secret.
 */

const ROOT = join(__dirname, '..', '..');

// The stream arithmetic of docs/k8s.md: RSS of an idle replica (one queue, in a
// 256 MiB memory cgroup with the base overlay's heap flags: npm run bench:memory),
// of one open /events stream (npm run bench, docs/benchmarks.md), and the share of
// the limit kept free for GC, request bursts and buffers.
const IDLE_RSS_MIB = 107;
const STREAM_RSS_KIB = 7.8;
const HEADROOM = 0.25;
// The heap arithmetic (docs/k8s.md): V8 heap in use by an idle replica, heap of one
// open stream (npm run bench:sse), and what a replica holds outside the V8 heap
// (RSS less the heap's committed size, idle: 50 MiB with each of three flag sets).
const IDLE_HEAP_MIB = 23;
const STREAM_HEAP_KIB = 6.4;
const NON_HEAP_MIB = 50;

function mebibytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Mi|Gi|M|G)$/.exec(String(q));
  if (!m) throw new Error(`unexpected memory quantity ${q}`);
  const n = Number(m[1]);
  return { Mi: n, Gi: n * 1024, M: (n * 1e6) / 2 ** 20, G: (n * 1e9) / 2 ** 20 }[m[2] as 'Mi' | 'Gi' | 'M' | 'G'];
}

/** Whether an Ingress path rule routes a request path (Kubernetes Exact and Prefix semantics). */
function ingressMatches(rule: Obj, path: string): boolean {
  if (rule.pathType === 'Exact') return rule.path === path;
  const prefix = String(rule.path).replace(/\/+$/, '');
  return prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
}
const KUBECTL = process.env.KUBECTL || 'kubectl';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = Record<string, any>;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

function validate(yamlText: string): { objects: number; errors: Array<{ object: string; message: string }> } {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'validate-k8s.mjs')], { input: yamlText, encoding: 'utf8', cwd: ROOT });
  if (r.status !== 0 && r.status !== 1) throw new Error(`validate-k8s failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { objects: number; errors: Array<{ object: string; message: string }> };
}

function podSpecs(objs: Obj[]): Array<{ owner: string; spec: Obj; labels: Obj }> {
  return objs
    .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    .map((o) => ({ owner: `${o.kind}/${o.metadata.name}`, spec: o.spec.template.spec, labels: o.spec.template.metadata.labels }));
}

function matches(selector: Obj | undefined, labels: Obj): boolean {
  return !!selector && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

const overlaysDir = join(ROOT, 'k8s', 'overlays');
const overlays = readdirSync(overlaysDir, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

let work: string;
const rendered = new Map<string, { text: string; objects: Obj[] }>();

beforeAll(() => {
  const version = spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8' });
  if (version.status !== 0) {
    throw new Error(`kubectl is needed to render the overlays (set KUBECTL or run .ci/run, which installs a pinned one): ${version.error?.message ?? version.stderr}`);
  }
  // Render from a copy: the minikube overlay's JWT secret file and pass key are
  // generated locally and never committed, so the copy gets fresh random ones.
  work = mkdtempSync(join(tmpdir(), 'waitroom-k8s-'));
  cpSync(join(ROOT, 'k8s'), join(work, 'k8s'), { recursive: true });
  for (const f of walk(join(work, 'k8s')).filter((f) => f.endsWith('.env.example'))) {
    writeFileSync(f.replace(/\.example$/, ''), `JWT_SECRET=${randomBytes(48).toString('base64')}\n`);
  }
  for (const f of walk(join(work, 'k8s')).filter((f) => f.endsWith('.pem.example'))) {
    writeFileSync(f.replace(/\.example$/, ''), generateKeyPem('ES256').privatePem);
  }
  for (const o of overlays) {
    const text = execFileSync(KUBECTL, ['kustomize', join(work, 'k8s', 'overlays', o)], { encoding: 'utf8' });
    const objects = parseAllDocuments(text)
      .map((d) => d.toJS() as Obj)
      .filter(Boolean);
    rendered.set(o, { text, objects });
  }
}, 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('k8s/', () => {
  it('has the minikube and production overlays, and every component is used by one', () => {
    expect(overlays).toEqual(expect.arrayContaining(['minikube', 'production']));
    const components = readdirSync(join(ROOT, 'k8s', 'components'));
    const used = overlays.flatMap((o) => [...readFileSync(join(overlaysDir, o, 'kustomization.yaml'), 'utf8').matchAll(/components\/([\w-]+)/g)].map((m) => m[1]));
    for (const c of components) expect(used).toContain(c);
  });

  it('commits no Secret and no secret value', () => {
    for (const f of walk(join(ROOT, 'k8s'))) {
      const text = readFileSync(f, 'utf8');
      expect({ file: relative(ROOT, f), secret: /^kind:\s*Secret\s*$/m.test(text) }).toEqual({ file: relative(ROOT, f), secret: false });
      for (const s of SAMPLE_SECRETS.filter((x) => x.length >= 16)) expect(text).not.toContain(s);
      expect(text).not.toMatch(/^\s*JWT_SECRET=\S/m);
      if (!f.endsWith('.pem') && !f.endsWith('.env')) expect({ file: relative(ROOT, f), key: /PRIVATE KEY-----/.test(text) }).toEqual({ file: relative(ROOT, f), key: false });
    }
  });

  it('git-ignores every locally generated secret file that an .example describes', () => {
    const examples = walk(join(ROOT, 'k8s')).filter((f) => /\.(env|pem)\.example$/.test(f));
    expect(examples.length).toBeGreaterThanOrEqual(2);
    expect(examples.some((f) => f.endsWith('.pem.example'))).toBe(true);
    for (const f of examples) {
      const generated = relative(ROOT, f.replace(/\.example$/, ''));
      const r = spawnSync('git', ['check-ignore', '--no-index', '-q', generated], { cwd: ROOT });
      expect({ generated, ignored: r.status === 0 }).toEqual({ generated, ignored: true });
      // The example shows how to generate the file, and holds no value itself.
      const text = readFileSync(f, 'utf8');
      expect(text).toContain(generated);
      if (f.endsWith('.pem.example')) expect(text).toMatch(/openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \S+\.pem/);
    }
  });

  it('schema validation rejects a broken object (the validator is not vacuous)', () => {
    const broken = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: "three"}\n---\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: y}\nspec: {groups: [{rules: []}]}\n';
    const r = validate(broken);
    expect(r.errors.map((e) => e.object)).toEqual(['apps/v1/Deployment x', 'monitoring.coreos.com/v1/PrometheusRule y']);
  });
});

describe.each(overlays)('overlay %s', (overlay) => {
  const get = () => rendered.get(overlay) as { text: string; objects: Obj[] };
  const one = (kind: string, name: string): Obj => {
    const o = get().objects.find((x) => x.kind === kind && x.metadata.name.startsWith(name));
    if (!o) throw new Error(`${overlay}: no ${kind} ${name}`);
    return o;
  };

  it('renders objects that all validate against the pinned Kubernetes and CRD schemas', () => {
    const r = validate(get().text);
    expect(r.errors).toEqual([]);
    expect(r.objects).toBe(get().objects.length);
    expect(r.objects).toBeGreaterThanOrEqual(10);
  });

  it('puts everything in one namespace', () => {
    const namespaced = get().objects.filter((o) => o.kind !== 'Namespace');
    expect(new Set(namespaced.map((o) => o.metadata.namespace))).toEqual(new Set(['waitroom']));
  });

  it('pins every image by tag or digest, never latest', () => {
    for (const { owner, spec } of podSpecs(get().objects)) {
      for (const c of spec.containers as Obj[]) {
        expect({ owner, image: c.image }).toEqual({ owner, image: expect.stringMatching(/(@sha256:[0-9a-f]{64}|:(?!latest$)[\w][\w.-]*)$/) });
      }
    }
  });

  it('gives every container startup, readiness and liveness probes and resource requests and limits', () => {
    for (const { owner, spec } of podSpecs(get().objects)) {
      for (const c of spec.containers as Obj[]) {
        const where = `${owner}/${c.name}`;
        for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe']) expect({ where, p, set: !!c[p] }).toEqual({ where, p, set: true });
        for (const k of ['requests', 'limits']) {
          for (const r of ['cpu', 'memory']) expect({ where, k, r, v: c.resources?.[k]?.[r] }).toEqual({ where, k, r, v: expect.anything() });
        }
      }
    }
  });

  it('runs every pod non-root with a read-only root, no capabilities and the RuntimeDefault seccomp profile', () => {
    for (const { owner, spec } of podSpecs(get().objects)) {
      expect({ owner, nonRoot: spec.securityContext?.runAsNonRoot, uid: spec.securityContext?.runAsUser > 0 }).toEqual({ owner, nonRoot: true, uid: true });
      expect(spec.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      expect(spec.automountServiceAccountToken).toBe(false);
      for (const c of spec.containers as Obj[]) {
        expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      }
    }
  });

  it('probes the real endpoints on the declared port, and the shutdown budget covers preStop plus the drain timeout', () => {
    const d = one('Deployment', 'waitroom');
    expect(one('HorizontalPodAutoscaler', 'waitroom').spec.minReplicas).toBeGreaterThanOrEqual(3);
    const spec = d.spec.template.spec;
    const c = spec.containers[0];
    expect(c.ports.map((p: Obj) => p.name)).toContain('http');
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/livez', port: 'http' });
    expect(c.startupProbe.httpGet.port).toBe('http');
    const cm = one('ConfigMap', 'waitroom-config');
    const drainS = (Number(cm.data.SHUTDOWN_DELAY_MS ?? 0) + Number(cm.data.SHUTDOWN_TIMEOUT_MS)) / 1000;
    expect(Number.isFinite(drainS)).toBe(true);
    const preStopS = c.lifecycle.preStop.sleep.seconds;
    expect(preStopS).toBeGreaterThanOrEqual(2);
    // Room for the drain plus a margin for the ticker, lease release and Redis close.
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStopS + drainS + 2);
    expect(spec.topologySpreadConstraints.length).toBeGreaterThanOrEqual(1);
  });

  it('configures the app with variables the server knows and values it accepts in production', () => {
    const d = one('Deployment', 'waitroom');
    const c = d.spec.template.spec.containers[0];
    const cm = one('ConfigMap', 'waitroom-config');
    expect(c.envFrom).toEqual([{ configMapRef: { name: cm.metadata.name } }]);
    const known = new Set(describeConfig().map((v) => v.name));
    for (const k of Object.keys(cm.data)) expect({ k, known: known.has(k) }).toEqual({ k, known: true });
    expect(cm.data.NODE_ENV).toBe('production');
    // Secret values come only by reference, and nothing secret sits in the ConfigMap.
    for (const e of c.env as Obj[]) expect({ name: e.name, value: e.value, ref: !!e.valueFrom?.secretKeyRef }).toEqual({ name: e.name, value: undefined, ref: true });
    for (const k of Object.keys(cm.data)) expect(k).not.toMatch(/SECRET|PASSWORD|TOKEN/);
    const secretEnv: Record<string, string> = {};
    for (const e of c.env as Obj[]) secretEnv[e.name] = e.name === 'REDIS_URL' ? 'rediss://user:pw@redis.example.com:6380/0' : randomBytes(48).toString('base64');
    expect(() => loadConfig({ ...cm.data, ...secretEnv })).not.toThrow();
  });

  it('mounts the pass keys read-only from a Secret at PASS_KEYS_DIR, readable by the app user only, on a read-only root', () => {
    const d = one('Deployment', 'waitroom');
    const spec = d.spec.template.spec;
    const c = spec.containers[0];
    const dir = one('ConfigMap', 'waitroom-config').data.PASS_KEYS_DIR as string;
    expect(dir).toMatch(/^\/run\/secrets\//);
    const mount = (c.volumeMounts as Obj[]).find((m) => m.mountPath === dir) as Obj;
    expect(mount).toBeDefined();
    expect(mount.readOnly).toBe(true);
    // A subPath mount would never see a rotated Secret.
    expect(mount.subPath).toBeUndefined();
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    const vol = (spec.volumes as Obj[]).find((v) => v.name === mount.name) as Obj;
    const secretName = vol.secret?.secretName as string;
    expect(secretName).toBeDefined();
    // Files are root-owned; without world read they need the pod's group.
    const mode = vol.secret.defaultMode as number;
    expect(mode & 0o007).toBe(0);
    expect(mode & 0o040).toBe(0o040);
    expect(spec.securityContext.fsGroup).toBe(spec.securityContext.runAsGroup);
    // The Secret exists in the overlay: generated here, or created by the External Secrets Operator.
    const secret = get().objects.find((o) => o.kind === 'Secret' && o.metadata.name === secretName);
    const external = get().objects.find((o) => o.kind === 'ExternalSecret' && o.spec.target.name === secretName);
    expect({ secretName, found: !!secret || !!external }).toEqual({ secretName, found: true });
    if (secret) {
      // Its files form a key directory the server accepts, with a key that signs.
      const keyDir = mkdtempSync(join(tmpdir(), 'waitroom-k8s-keys-'));
      try {
        for (const [name, b64] of Object.entries(secret.data as Record<string, string>)) writeFileSync(join(keyDir, name), Buffer.from(b64, 'base64'));
        const set = readKeyDir(keyDir);
        expect(set.signing.alg).toBe('ES256');
      } finally {
        rmSync(keyDir, { recursive: true, force: true });
      }
    }
  });

  it('wires the Service, PodDisruptionBudget, HPA and NetworkPolicies to the app pods', () => {
    const d = one('Deployment', 'waitroom');
    const labels = d.spec.template.metadata.labels;
    const svc = one('Service', 'waitroom');
    expect(matches(svc.spec.selector, labels)).toBe(true);
    expect(svc.spec.ports[0].targetPort).toBe('http');
    expect(matches(one('PodDisruptionBudget', 'waitroom').spec.selector.matchLabels, labels)).toBe(true);
    const hpa = one('HorizontalPodAutoscaler', 'waitroom');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'waitroom' });
    expect(matches(one('NetworkPolicy', 'waitroom').spec.podSelector.matchLabels, labels)).toBe(true);
  });

  it('persists an in-cluster Redis with AOF on a volume reachable only from the app, or uses a managed one from the secret', () => {
    const d = one('Deployment', 'waitroom');
    const redis = get().objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'waitroom-redis');
    const c = d.spec.template.spec.containers[0];
    if (!redis) {
      expect(c.env.find((e: Obj) => e.name === 'REDIS_URL')?.valueFrom?.secretKeyRef?.key).toBe('REDIS_URL');
      return;
    }
    const conf = one('ConfigMap', 'waitroom-redis').data['redis.conf'] as string;
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).toMatch(/^maxmemory-policy noeviction$/m);
    expect(redis.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    expect(redis.spec.template.spec.containers[0].volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    const np = one('NetworkPolicy', 'waitroom-redis');
    expect(matches(np.spec.podSelector.matchLabels, redis.spec.template.metadata.labels)).toBe(true);
    expect(np.spec.ingress).toHaveLength(1);
    expect(np.spec.ingress[0].from).toEqual([{ podSelector: { matchLabels: d.spec.template.metadata.labels } }]);
  });

  it('leaves the replica count to the HPA: no Deployment an HPA scales sets spec.replicas', () => {
    // Otherwise every `kubectl apply -k` during a scaled-out sale resets the count.
    for (const hpa of get().objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
      const target = one(hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name);
      expect({ deployment: target.metadata.name, replicas: target.spec.replicas }).toEqual({ deployment: target.metadata.name, replicas: undefined });
    }
  });

  it('serves /metrics on METRICS_PORT, a container port named metrics, which the Service and the ServiceMonitor use', () => {
    const d = one('Deployment', 'waitroom');
    const c = d.spec.template.spec.containers[0];
    const cm = one('ConfigMap', 'waitroom-config');
    const metricsPort = Number(cm.data.METRICS_PORT);
    expect(metricsPort).toBeGreaterThan(0);
    expect(metricsPort).not.toBe(Number(cm.data.PORT));
    expect(c.ports).toContainEqual({ name: 'metrics', containerPort: metricsPort, protocol: 'TCP' });
    const svc = one('Service', 'waitroom');
    const svcPort = (svc.spec.ports as Obj[]).find((p) => p.targetPort === 'metrics') as Obj;
    expect(svcPort).toBeDefined();
    for (const sm of get().objects.filter((o) => o.kind === 'ServiceMonitor')) {
      expect(sm.spec.endpoints.map((e: Obj) => e.port)).toEqual([svcPort.name]);
    }
    expect(one('NetworkPolicy', 'waitroom').spec.ingress[0].ports.map((p: Obj) => p.port)).toEqual(expect.arrayContaining(['http', 'metrics']));
  });

  it('caps open streams per replica below its memory limit (docs/k8s.md, "Memory and open streams")', () => {
    const c = one('Deployment', 'waitroom').spec.template.spec.containers[0];
    const limitMiB = mebibytes(c.resources.limits.memory);
    const streams = Number(one('ConfigMap', 'waitroom-config').data.SSE_MAX_STREAMS);
    expect(Number.isInteger(streams) && streams > 0).toBe(true);
    // Idle replica + every stream open must fit in the limit minus a quarter of headroom.
    const needMiB = IDLE_RSS_MIB + (streams * STREAM_RSS_KIB) / 1024;
    expect({ limitMiB, streams, fits: needMiB <= limitMiB * (1 - HEADROOM) }).toEqual({ limitMiB, streams, fits: true });
    // ...and is not set far below what the limit allows (within 20 %).
    const allowed = Math.floor(((limitMiB * (1 - HEADROOM) - IDLE_RSS_MIB) * 1024) / STREAM_RSS_KIB);
    expect(streams).toBeGreaterThanOrEqual(Math.floor(allowed * 0.8));
  });

  it('sizes the V8 heap for its memory limit and its streams, with the image\'s entrypoint (docs/k8s.md, "Memory and open streams")', () => {
    const c = one('Deployment', 'waitroom').spec.template.spec.containers[0];
    const limitMiB = mebibytes(c.resources.limits.memory);
    const command = c.command as string[];
    // The Dockerfile's ENTRYPOINT, with node flags between node and the script.
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1] ?? '[]') as string[];
    expect([command[0], command[command.length - 1]]).toEqual(entrypoint);
    const flags = command.slice(1, -1);
    const flag = (name: string) => {
      const f = flags.find((a) => a.startsWith(`${name}=`));
      return f === undefined ? NaN : Number(f.slice(name.length + 1));
    };
    const oldMiB = flag('--max-old-space-size');
    const semiMiB = flag('--max-semi-space-size');
    expect({ oldMiB: Number.isInteger(oldMiB), semiMiB: Number.isInteger(semiMiB) }).toEqual({ oldMiB: true, semiMiB: true });
    // The largest the heap can grow (old generation + three semi-spaces) plus what an idle replica holds
    // outside it fits the limit. The streams' own share outside the heap (~1.4 KiB each) is the RSS
    // guard's to hold: it refuses streams at SSE_MEMORY_HIGH_WATER of the limit.
    expect({ limitMiB, oldMiB, semiMiB, fits: oldMiB + 3 * semiMiB + NON_HEAP_MIB <= limitMiB }).toEqual({ limitMiB, oldMiB, semiMiB, fits: true });
    // Every stream SSE_MAX_STREAMS allows fits under the memory guard's high water of the old generation (SSE_HEAP_HIGH_WATER).
    const cm = one('ConfigMap', 'waitroom-config').data;
    const streams = Number(cm.SSE_MAX_STREAMS);
    const highWater = Number(cm.SSE_HEAP_HIGH_WATER ?? describeConfig().find((v) => v.name === 'SSE_HEAP_HIGH_WATER')?.default);
    expect(highWater).toBeGreaterThan(0);
    const needMiB = IDLE_HEAP_MIB + (streams * STREAM_HEAP_KIB) / 1024;
    expect({ streams, oldMiB, fits: needMiB <= highWater * oldMiB }).toEqual({ streams, oldMiB, fits: true });
    // node accepts the flags and sizes its heap from them: old generation + 3 semi-spaces.
    const r = spawnSync(process.execPath, [...flags, '-e', 'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit))'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(Math.round(Number(r.stdout) / 2 ** 20)).toBe(oldMiB + 3 * semiMiB);
  });

  it('alerts only on metrics the server exports', async () => {
    const rules = get().objects.filter((o) => o.kind === 'PrometheusRule');
    if (overlay === 'production') expect(rules).toHaveLength(1);
    const names = await exportedMetricNames();
    for (const r of rules) {
      const alerts = r.spec.groups.flatMap((g: Obj) => g.rules) as Obj[];
      expect(alerts.map((a) => a.alert)).toEqual(
        expect.arrayContaining([
          'WaitroomDown',
          'WaitroomNoLeader',
          'WaitroomTickLag',
          'WaitroomRedisErrors',
          'WaitroomHighErrorRate',
          'WaitroomQueueLong',
          'WaitroomStateStale',
        ]),
      );
      // Prometheus's own `up` series, by the job the ServiceMonitor gives the targets:
      // its jobLabel names a label of the Service, whose value is the job.
      const monitor = get().objects.find((o) => o.kind === 'ServiceMonitor');
      expect(monitor).toBeDefined();
      if (!monitor) continue;
      const service = get().objects.find((o) => o.kind === 'Service' && matches(monitor.spec.selector.matchLabels, o.metadata.labels ?? {})) as Obj;
      const job = service.metadata.labels[monitor.spec.jobLabel] as string;
      expect(job).toBe('waitroom');
      for (const a of alerts) {
        const used = metricNamesIn(a.expr);
        for (const m of a.expr.matchAll(/\bup\{([^}]*)\}/g)) {
          expect({ alert: a.alert, selector: m[1] }).toEqual({ alert: a.alert, selector: `job="${job}"` });
          used.push('up');
        }
        expect(used.length).toBeGreaterThan(0);
        for (const n of used) {
          const known = n === 'up' || names.has(n);
          expect({ alert: a.alert, metric: n, exported: known }).toEqual({ alert: a.alert, metric: n, exported: true });
        }
      }
    }
  });
});

describe('overlay production specifically', () => {
  const objs = () => (rendered.get('production') as { objects: Obj[] }).objects;

  it('pulls from a registry, exposes an Ingress, takes secrets from the external store and scales wider', () => {
    const d = objs().find((o) => o.kind === 'Deployment') as Obj;
    expect(d.spec.template.spec.containers[0].image).toMatch(/^[a-z0-9.-]+\.[a-z]{2,}(:\d+)?\//);
    expect(objs().some((o) => o.kind === 'Secret')).toBe(false);
    const es = objs().find((o) => o.kind === 'ExternalSecret' && o.metadata.name === 'waitroom-secret') as Obj;
    expect(es.spec.target.name).toBe('waitroom-secret');
    expect(es.spec.data.map((x: Obj) => x.secretKey).sort()).toEqual(['JWT_SECRET', 'REDIS_URL']);
    // Pass keys: every property of one store entry is a <kid>.pem file, so a
    // rotation is a change in the store only; removed keys leave the Secret.
    const keys = objs().find((o) => o.kind === 'ExternalSecret' && o.metadata.name === 'waitroom-pass-keys') as Obj;
    expect(keys.spec.target).toEqual(expect.objectContaining({ name: 'waitroom-pass-keys', deletionPolicy: 'Delete' }));
    expect(keys.spec.dataFrom).toEqual([{ extract: { key: expect.stringMatching(/pass-keys$/) } }]);
    expect(objs().find((o) => o.kind === 'Ingress')?.spec.rules[0].http.paths[0].backend.service.name).toBe('waitroom');
    expect(objs().find((o) => o.kind === 'Service')?.spec.type).toBe('ClusterIP');
    expect((objs().find((o) => o.kind === 'HorizontalPodAutoscaler') as Obj).spec.minReplicas).toBeGreaterThan(3);
  });

  it('routes only the visitor paths to the internet: no metrics, operator view, gate or site API', () => {
    const ingress = objs().find((o) => o.kind === 'Ingress') as Obj;
    const rules = ingress.spec.rules.flatMap((r: Obj) => r.http.paths) as Obj[];
    for (const r of rules) expect(r.backend.service).toEqual({ name: 'waitroom', port: { name: 'http' } });
    // Reaches a route: the Ingress routes it and, under the /q/ Prefix, the server has a
    // visitor route there (queue-prefix.ts answers 404 for anything else under /q/<id>/).
    const routed = (p: string) => {
      if (!rules.some((r) => ingressMatches(r, p))) return false;
      if (!p.startsWith('/q/')) return true;
      return stripQueuePrefix({ url: p } as IncomingMessage) === 'ok';
    };
    const visitor = [
      '/', '/join', '/status', '/window', '/events', '/claim', '/client.js', '/format.js', '/app.js', '/page.css', '/theme.css',
      '/challenge', '/altcha.js', '/altcha.css', '/altcha-pbkdf2-worker.js', '/.well-known/jwks.json',
      '/q/shop/', '/q/shop/join', '/q/shop/status', '/q/shop/window', '/q/shop/events', '/q/shop/claim', '/q/shop/app.js',
    ];
    const internal = [
      '/metrics', '/admin', '/admin.js', '/admin/state', '/admin/api/v1/queues', '/verify', '/verify/x', '/passes/done', '/passes/stats', '/readyz', '/livez', '/nope',
      // Routed by the /q/ Prefix rule, refused by the server itself.
      '/q/x/metrics', '/q/x/admin/api/v1/queues', '/q/x/admin', '/q/x/verify', '/q/x/passes/done', '/q/x/readyz', '/q/x/.well-known/jwks.json',
    ];
    expect(visitor.filter((p) => !routed(p))).toEqual([]);
    expect(internal.filter(routed)).toEqual([]);
  });

  // docs/k8s.md "Managed Redis, Sentinel or Cluster": the production overlay takes
  // REDIS_URL from the secret store, so pointing it at another topology is a change
  // of that one value. Every documented form must pass the rendered config.
  it.each([
    ['managed with failover (ElastiCache, Azure Cache)', 'rediss://waitroom:pw@master.waitroom.abc123.use1.cache.amazonaws.com:6379/0'],
    ['Redis Cluster, seed nodes', 'redis-cluster://waitroom:pw@redis-cluster-0.redis-cluster:6379,redis-cluster-1.redis-cluster:6379'],
    ['Redis Cluster over TLS (ElastiCache cluster mode)', 'rediss-cluster://waitroom:pw@clustercfg.waitroom.abc123.use1.cache.amazonaws.com:6379'],
    ['Sentinel', 'redis-sentinel://waitroom:pw@redis-sentinel-0.redis:26379,redis-sentinel-1.redis:26379,redis-sentinel-2.redis:26379/mymaster'],
    ['Sentinel over TLS', 'rediss-sentinel://waitroom:pw@sentinel.redis:26379/mymaster?sentinelPassword=spw'],
  ])('accepts the documented REDIS_URL for %s', (_what, url) => {
    const cm = objs().find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('waitroom-config')) as Obj;
    const config = loadConfig({ ...cm.data, JWT_SECRET: randomBytes(48).toString('base64'), REDIS_URL: url });
    expect(config.redisUrl).toBe(url);
  });

  it('configures admission for a protected site over https: audience, waiting page, secure cookie', () => {
    const cm = objs().find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('waitroom-config')) as Obj;
    const config = loadConfig({ ...cm.data, JWT_SECRET: randomBytes(48).toString('base64'), REDIS_URL: 'rediss://u:p@redis.example.com:6380/0' });
    expect(config.targetUrl).toMatch(/^https:\/\//);
    expect(config.passAudience).toBe(new URL(config.targetUrl).origin);
    expect(config.waitingPageUrl).toMatch(/^https:\/\//);
    expect(config.passCookieSecure).toBe(true);
    // The waiting page is the host the Ingress serves; the cookie reaches the site.
    const host = new URL(config.waitingPageUrl).hostname;
    expect((objs().find((o) => o.kind === 'Ingress') as Obj).spec.rules.map((r: Obj) => r.host)).toContain(host);
    expect(new URL(config.targetUrl).hostname.endsWith(`.${config.passCookieDomain}`)).toBe(true);
    expect(config.warnings).toEqual([]);
  });
});

describe('overlay minikube specifically', () => {
  it('uses the local image without pulling, a NodePort and a generated secret that is not a sample', () => {
    const objs = (rendered.get('minikube') as { objects: Obj[] }).objects;
    const c = (objs.find((o) => o.kind === 'Deployment') as Obj).spec.template.spec.containers[0];
    expect(c.imagePullPolicy).toBe('Never');
    expect(objs.find((o) => o.kind === 'Service' && o.metadata.name === 'waitroom')?.spec.type).toBe('NodePort');
    const secret = objs.find((o) => o.kind === 'Secret' && o.metadata.name.startsWith('waitroom-secret')) as Obj;
    const jwt = Buffer.from(secret.data.JWT_SECRET, 'base64').toString('utf8');
    expect(SAMPLE_SECRETS).not.toContain(jwt);
    expect(Buffer.byteLength(jwt)).toBeGreaterThanOrEqual(32);
    // Not hashed: re-applying after a rotation updates the mounted Secret in place.
    const keys = objs.find((o) => o.kind === 'Secret' && o.metadata.name === 'waitroom-pass-keys') as Obj;
    expect(Object.keys(keys.data)).toEqual(['minikube-1.pem']);
  });

  it('does not trust X-Forwarded-For from visitors and keeps their source address on the NodePort', () => {
    for (const name of ['minikube', 'minikube-monitoring']) {
      const objs = (rendered.get(name) as { objects: Obj[] }).objects;
      const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('waitroom-config')) as Obj;
      // Visitors connect straight to the NodePort: nothing of ours appends to X-Forwarded-For.
      expect(loadConfig({ ...cm.data, JWT_SECRET: 'x'.repeat(48), PASS_KEYS_DIR: '/k' }).trustProxy).toBe(0);
      const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'waitroom') as Obj;
      expect(svc.spec.externalTrafficPolicy).toBe('Local');
    }
  });
});
