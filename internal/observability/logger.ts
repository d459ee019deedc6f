import pino, { type Logger } from 'pino';

/**
 * The process logger. Authorization headers, cookies and tokens are redacted
 * wherever they appear, so a log shipped to a third party never carries a
 * visitor's place in line or admission.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'waitroom' },
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
