import type { Logger } from 'pino';
import { readKeyDir, type KeySet, type PassKey, type PublicJwk } from './pass-keys';

export interface KeyRingOptions {
  readonly dir: string;
  /** Re-read period; a rotation reaches every replica within one period. */
  readonly reloadMs: number;
  readonly logger: Logger;
  readonly onReloadError?: (err: Error) => void;
}

/**
 * The pass keys of one replica, re-read from their directory every reloadMs so
 * that keys rotate without a restart. The first read happens in the constructor
 * and throws: a replica does not start without a usable key. A later unusable
 * directory (a half-copied file, a key deleted by mistake while no other private
 * key remains) keeps the previous set and is logged and counted, never applied
 * in part.
 */
export class KeyRing {
  private set: KeySet;
  private byKid: Map<string, PassKey>;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<() => void>();
  private closed = false;

  constructor(private readonly o: KeyRingOptions) {
    this.set = readKeyDir(o.dir);
    this.byKid = new Map(this.set.keys.map((k) => [k.kid, k]));
  }

  /** Logs the loaded set (not the constructor: a replica that fails to bind its port logs nothing) and starts reloads. */
  start(): void {
    if (this.timer || this.closed) return;
    this.logLoaded('pass keys loaded');
    this.timer = setInterval(() => this.reload(), this.o.reloadMs);
    this.timer.unref();
  }

  /** Re-reads the directory now; returns true if the key set changed. */
  reload(): boolean {
    let next: KeySet;
    try {
      next = readKeyDir(this.o.dir);
    } catch (err) {
      this.o.logger.error({ err: (err as Error).message }, 'pass keys not reloaded; keeping the previous keys');
      this.o.onReloadError?.(err as Error);
      return false;
    }
    if (next.fingerprint === this.set.fingerprint) return false;
    this.set = next;
    this.byKid = new Map(next.keys.map((k) => [k.kid, k]));
    this.logLoaded('pass keys changed');
    for (const l of this.listeners) l();
    return true;
  }

  private logLoaded(msg: string): void {
    this.o.logger.info({ signing: this.set.signing.kid, published: this.set.keys.map((k) => `${k.kid}:${k.alg}${k.privateKey ? '' : ':verify-only'}`) }, msg);
  }

  /** The key new passes are signed with. */
  signing(): PassKey {
    return this.set.signing;
  }

  /** A published key by id, or undefined (unknown or removed). */
  get(kid: string): PassKey | undefined {
    return this.byKid.get(kid);
  }

  keys(): readonly PassKey[] {
    return this.set.keys;
  }

  jwks(): { keys: PublicJwk[] } {
    return { keys: this.set.keys.map((k) => k.jwk) };
  }

  /** Called after every change of the key set. */
  onChange(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }
}
