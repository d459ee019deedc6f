# syntax=docker/dockerfile:1
#
# waitroom container image: `docker build -t waitroom .`
#
# Two stages: `build` compiles TypeScript with the dev dependencies and then
# prunes them; `runtime` gets only package.json, the production node_modules
# and dist/ (compiled code plus the Lua scripts and static pages that
# scripts/copy-assets.js places next to it). test/deploy/runtime-files.test.ts
# starts the server from a copy of exactly the paths the runtime stage copies,
# so a runtime file missing from dist/ fails CI, not a deployment.
#
# Same Node.js major as package.json "engines". bookworm-slim keeps glibc (the
# prebuilt native bits in node_modules expect it) without the full image's
# compilers and headers; the production dependencies add about 25 MB.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first: the `npm ci` layer is reused until the lock file changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY cmd ./cmd
COPY internal ./internal
# The example protected site (a few kB): docker-compose.yml runs it from this
# image as `node dist/examples/origin/server.js`; the server never loads it.
COPY examples/origin ./examples/origin
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund --ignore-scripts \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
# NODE_ENV=production makes the server refuse a missing REDIS_URL and any
# sample JWT_SECRET (internal/config/config.ts).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
# Owned by root and not writable by the service user: with a read-only root
# filesystem (k8s/base/deployment.yaml) nothing at run time writes here anyway.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The `node` user of the official image, by number so that Kubernetes'
# runAsNonRoot can verify it without reading /etc/passwd.
USER 1000:1000
EXPOSE 8080
# Liveness, not readiness: a replica that lost Redis is alive and answers 503 on
# /readyz, and restarting it would not bring Redis back. 2 s timeout against a
# handler that answers in well under 1 ms.
HEALTHCHECK --interval=10s --timeout=2s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node runs as PID 1 directly (no shell in between, so signals reach it):
# cmd/server/main.ts installs SIGTERM and SIGINT handlers, which PID 1 needs
# because the kernel ignores signals PID 1 has no handler for, and the server
# starts no child processes, so there are no zombies to reap and no init is
# needed. Checked by test/deploy/runtime-files.test.ts, which runs the copied
# build as PID 1 of a new PID namespace and stops it with SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cmd/server/main.js"]
