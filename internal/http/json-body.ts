import type { NextFunction, Request, Response } from 'express';
import { BadRequestError, PayloadTooLargeError } from '../errors/errors';
import { closeAfterReply } from './linger';

/** application/json and any +json type. */
const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/**
 * Reads every request body, whatever its Content-Type or framing, up to `limit`
 * bytes, and parses JSON ones into req.body. Replaces express.json, which
 * (through body-parser) leaves non-JSON bodies unread and, on an oversized
 * body, keeps reading it to the end before answering 413: a 64 MB text/plain
 * body was read in full. Here a declared Content-Length over the limit is
 * refused before reading a byte, a chunked body as soon as it passes the
 * limit, and the connection is closed after the 413 so the rest is never read.
 */
export function jsonBody(limit: number) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const declared = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (!chunked && (declared === undefined || declared === '0')) return next();
    const tooLarge = () => {
      res.setHeader('Connection', 'close');
      closeAfterReply(req, res);
      next(new PayloadTooLargeError(limit));
    };
    if (Number(declared ?? 0) > limit) return tooLarge();
    const chunks: Buffer[] = [];
    let seen = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      seen += c.length;
      if (seen > limit) {
        done = true;
        tooLarge();
        return;
      }
      chunks.push(c);
    });
    req.on('error', (err) => {
      if (done) return;
      done = true;
      next(err);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      if (seen === 0 || !JSON_TYPE.test(req.headers['content-type'] ?? '')) return next();
      try {
        req.body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      } catch {
        return next(new BadRequestError('request body is not valid JSON', 'invalid_json'));
      }
      next();
    });
  };
}
