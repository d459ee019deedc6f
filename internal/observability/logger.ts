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
 * The process logger. Authorization headers, cookies and tokens are redacted
 * wherever they appear, so a log shipped to a third party never carries a
 * visitor's place in line or admission.
 */
export function createLogger(o: LoggerOptions): Logger {
  const destination = o.destination ?? (o.format === 'pretty' ? prettyStream() : undefined);
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
    },
    destination,
  );
}
