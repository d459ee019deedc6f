import { KeyFileError } from '../../internal/admission/pass-keys';
import { ConfigError, loadConfig, type Config } from '../../internal/config/config';
import { createLogger } from '../../internal/observability/logger';
import { DurabilityUnsupportedError } from '../../internal/store/durability';
import { WaitroomServer, listenFailure, publicUrl } from '../../internal/server/waitroom-server';

/** sysexits.h: a bad environment (variables, pass keys, a durability the store cannot give), and a port that cannot be bound. */
const EX_CONFIG = 78;
const EX_UNAVAILABLE = 69;

/**
 * The process entry point: reads the environment once, wires a WaitroomServer,
 * maps signals to a graceful shutdown, and is the only place that exits.
 * Failures a person can fix print one line on stderr and exit with a
 * distinct code; JSON logs are for running replicas.
 */
async function main(): Promise<number> {
  let config: Config;
  let server: WaitroomServer;
  try {
    config = loadConfig(process.env);
    server = new WaitroomServer(config, createLogger({ level: config.logLevel, format: config.logFormat }));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`waitroom: ${err.message}\n`);
      return EX_CONFIG;
    }
    if (err instanceof KeyFileError) {
      process.stderr.write(`waitroom: invalid configuration:\n  PASS_KEYS_DIR: ${err.message}\n`);
      return EX_CONFIG;
    }
    throw err;
  }
  const logger = server.logger;
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
  let addr;
  try {
    addr = await server.listen();
  } catch (err) {
    const why = listenFailure(err, config);
    if (why === null) throw err;
    process.stderr.write(`waitroom: ${why}\n`);
    return EX_UNAVAILABLE;
  }
  try {
    await server.start();
  } catch (err) {
    // JOIN_DURABILITY asks for what the Redis server cannot do (WAITAOF before 7.2, no AOF).
    if (!(err instanceof DurabilityUnsupportedError)) throw err;
    process.stderr.write(`waitroom: ${err.message}\n`);
    return EX_CONFIG;
  }
  const url = publicUrl(addr);
  const metrics = server.metricsAddress();
  logger.info(
    { url, queue: config.queueId, store: config.redisUrl ? 'redis' : 'embedded', ...(metrics ? { metricsUrl: `${publicUrl(metrics)}metrics` } : {}) },
    `waitroom listening on ${url}`,
  );
  // Startup lines (config warnings, the address) are written now, not with the first 4 KiB of traffic.
  logger.flush();
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
