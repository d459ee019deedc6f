import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { generateKeyPem, type PassAlg } from '../../internal/admission/pass-keys';

/** A temporary PASS_KEYS_DIR whose keys a test can add, demote, remove and sign with. */
export class TestKeyDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'waitroom-pass-keys-'));
  private readonly pems = new Map<string, { privatePem: string; publicPem: string; alg: PassAlg }>();

  /** Writes <kid>.pem (private: can sign) or <kid>.pub.pem (verify only). */
  add(kid: string, alg: PassAlg = 'ES256', publicOnly = false): this {
    const pem = this.pems.get(kid) ?? { ...generateKeyPem(alg), alg };
    this.pems.set(kid, pem);
    if (publicOnly) writeFileSync(join(this.dir, `${kid}.pub.pem`), pem.publicPem);
    else writeFileSync(join(this.dir, `${kid}.pem`), pem.privatePem, { mode: 0o600 });
    return this;
  }

  remove(kid: string): this {
    for (const f of [`${kid}.pem`, `${kid}.pub.pem`]) {
      try {
        unlinkSync(join(this.dir, f));
      } catch {
        // absent is fine
      }
    }
    return this;
  }

  /** Signs arbitrary pass claims with a key of this directory (even one removed since). */
  async sign(kid: string, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const pem = this.pems.get(kid);
    if (!pem) throw new Error(`no key ${kid}`);
    return new SignJWT(claims).setProtectedHeader({ alg: pem.alg, kid, typ: 'JWT', ...header }).sign(createPrivateKey(pem.privatePem));
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
