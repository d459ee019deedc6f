import pino, { type Logger } from 'pino';
import { ConfigError } from '../config/config';

export interface LoggerOptions {
  readonly level: string;
  /** json: one object per line for collectors; pretty: one readable line for a terminal (pino-pretty). */
  readonly format?: 'json' | 'pretty';
  /** Where lines go (tests capture them); stdout by default. */
  readonly destination?: pino.DestinationStream;
}

/**
 * `err` as pino's standard serializer writes it (type, message, stack,
 * causes) when it is an Error, and as itself otherwise: the standard one
 * turns a plain `{ name, message }` or a string into `{"type":"Object","stack":""}`
 * or drops it, which says nothing about what failed.
 */
export function serializeErr(err: unknown): unknown {
  if (err instanceof Error) return pino.stdSerializers.err(err);
  return err;
}

/** pino-pretty is a development dependency: loaded only for LOG_FORMAT=pretty, so the image does not need it. */
function prettyStream(): pino.DestinationStream {
  let pretty: (opts: Record<string, unknown>) => pino.DestinationStream;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    pretty = require('pino-pretty') as typeof pretty;
  } catch {
    throw new ConfigError({
      LOG_FORMAT: '"pretty" needs the pino-pretty package (a development dependency, not in the container image); use LOG_FORMAT=json there',
    });
  }
  // Synchronous, in this thread: the last lines before process.exit are never lost.
  return pretty({ sync: true, colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' });
}

/**
 * Log lines are buffered and written in chunks of at least 4 KiB or every
 * 250 ms, whichever comes first, instead of one write(2) per line: on the hot
 * routes a sampled line cost as much CPU as ~5 requests, nearly all of it in
 * the system call (a CPU profile of GET /status put 9% of the busy time in
 * logging at the default 1% sample rate; docs/benchmarks.md). Warning, error and
 * fatal lines flush the buffer at once (warnings are few: start-up, and hot-route
 * refusals at most once a second per route and code), and pino flushes
 * synchronously on process exit, so only a SIGKILL or a power cut can lose the
 * last 250 ms of info lines.
 */
const BUFFER_BYTES = 4096;
const FLUSH_EVERY_MS = 250;
/** pino's numeric level for "warn": this level and above are written at once. */
const FLUSH_LEVEL = 40;

/**
 * The process logger. Authorization headers, cookies and tokens are redacted
 * wherever they appear, so a log shipped to a third party never carries a
 * visitor's place in line or admission. Without a destination it writes to
 * stdout through the buffer described above.
 */
export function createLogger(o: LoggerOptions): Logger {
  const buffered =
    o.destination === undefined && o.format !== 'pretty'
      ? pino.destination({ dest: 1, sync: false, minLength: BUFFER_BYTES, periodicFlush: FLUSH_EVERY_MS })
      : undefined;
  const destination = o.destination ?? (o.format === 'pretty' ? prettyStream() : buffered);
  return pino(
    {
      level: o.level,
      base: { service: 'waitroom' },
      serializers: { err: serializeErr },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'res.headers["set-cookie"]',
          'token',
          'pass',
          '*.token',
        ],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: buffered
        ? {
            logMethod(args, method, lvl) {
              method.apply(this, args);
              if (lvl >= FLUSH_LEVEL) buffered.flush();
            },
          }
        : {},
    },
    destination,
  );
}
