import { ConfigError, loadConfig } from '../../internal/config/config';
import { createLogger } from '../../internal/observability/logger';
import { WaitroomServer } from '../../internal/server/waitroom-server';

/**
 * The process entry point: reads the environment once, wires a WaitroomServer,
 * maps signals to a graceful shutdown, and is the only place that exits.
 */
async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`waitroom: ${err.message}\n`);
      return 78; // EX_CONFIG
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const server = new WaitroomServer(config, logger);
  let exitCode = 0;
  const stop = (signal: string) => {
    logger.info({ signal }, 'signal received');
    server.shutdown().then(
      () => process.exit(exitCode),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection');
    exitCode = 1;
    stop('unhandledRejection');
  });
  await server.start();
  const addr = await server.listen();
  logger.info({ address: addr.address, port: addr.port, queue: config.queueId, store: config.redisUrl ? 'redis' : 'embedded' }, 'waitroom listening');
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`waitroom: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
