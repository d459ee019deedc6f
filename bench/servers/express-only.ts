import type * as AppModule from '../../internal/http/app';
import type * as ApiModule from '../../internal/http/api';
import type * as ConfigModule from '../../internal/config/config';
import type * as LoggerModule from '../../internal/observability/logger';
import type * as ServerModule from '../../internal/server/waitroom-server';

/**
 * The pure-Express variant for the hot-path analysis: the real replica (same
 * store, cache, ticker, service) with its request listener swapped for
 * buildApp() alone, i.e. every route through Express, pino-http and helmet.
 * It loads the compiled dist/ (types come from the sources), so it runs the
 * exact code `node dist/cmd/server/main.js` runs; only the dispatch differs.
 */
const dist = (m: string) => require(`../../dist/internal/${m}.js`) as unknown;
const { loadConfig } = dist('config/config') as typeof ConfigModule;
const { createLogger } = dist('observability/logger') as typeof LoggerModule;
const { WaitroomServer } = dist('server/waitroom-server') as typeof ServerModule;
const { buildApp } = dist('http/app') as typeof AppModule;
const { apiEndpoints } = dist('http/api') as typeof ApiModule;

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  const server = new WaitroomServer(config, logger);
  const app = buildApp({
    logger,
    metrics: server.metrics,
    api: apiEndpoints({ registry: server.registry, tokens: server.tokens, defaultQueueId: config.queueId }),
    readiness: server.readiness,
    trustProxy: config.trustProxy,
    logSampleRate: config.logSampleRate,
  });
  server.http.removeAllListeners('request');
  server.http.on('request', app);
  process.once('SIGTERM', () => void server.shutdown().then(() => process.exit(0)));
  await server.start();
  await server.listen();
  logger.info({ port: config.port, variant: 'express-only' }, 'waitroom (express-only benchmark variant) listening');
}

main().catch((err: unknown) => {
  process.stderr.write(`express-only: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
