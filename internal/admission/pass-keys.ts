import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The two pass algorithms: ECDSA P-256 (widest support) and Ed25519 (faster, deterministic). */
export type PassAlg = 'ES256' | 'EdDSA';

/** A public JWK as published in /.well-known/jwks.json (RFC 7517, 7518, 8037). */
export interface PublicJwk {
  readonly kty: string;
  readonly crv: string;
  readonly x: string;
  readonly y?: string;
  readonly kid: string;
  readonly alg: PassAlg;
  readonly use: 'sig';
}

export interface PassKey {
  readonly kid: string;
  readonly alg: PassAlg;
  readonly publicKey: KeyObject;
  /** Present for <kid>.pem files: such a key can sign. */
  readonly privateKey?: KeyObject;
  readonly jwk: PublicJwk;
}

/** A consistent set of keys read from one directory. */
export interface KeySet {
  /** Every published key, sorted by kid. */
  readonly keys: readonly PassKey[];
  /** The private key whose kid sorts last: "the newest signs". */
  readonly signing: PassKey;
  /** Hash of the file names and contents, to skip reloads that change nothing. */
  readonly fingerprint: string;
}

/** Thrown when a key directory cannot be used; the message names the file. */
export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
}

const KID = /^[A-Za-z0-9._-]{1,64}$/;

function algOf(key: KeyObject, file: string): PassAlg {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  const what = key.asymmetricKeyType === 'ec' ? `EC ${key.asymmetricKeyDetails?.namedCurve ?? '?'}` : String(key.asymmetricKeyType);
  throw new KeyFileError(`${file}: ${what} keys are not supported; use P-256 (ES256) or Ed25519 (EdDSA)`);
}

function toPassKey(kid: string, file: string, pem: string, isPrivate: boolean): PassKey {
  let privateKey: KeyObject | undefined;
  let publicKey: KeyObject;
  try {
    if (isPrivate) {
      privateKey = createPrivateKey(pem);
      publicKey = createPublicKey(privateKey);
    } else {
      publicKey = createPublicKey(pem);
    }
  } catch (err) {
    throw new KeyFileError(`${file}: not a PEM ${isPrivate ? 'private' : 'public'} key (${(err as Error).message})`);
  }
  const alg = algOf(publicKey, file);
  const j = publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string; y?: string };
  const jwk: PublicJwk = Object.freeze({ kty: j.kty, crv: j.crv, x: j.x, ...(j.y ? { y: j.y } : {}), kid, alg, use: 'sig' as const });
  return Object.freeze({ kid, alg, publicKey, ...(privateKey ? { privateKey } : {}), jwk });
}

/**
 * Reads every key of a directory: `<kid>.pem` holds a PKCS#8 (or SEC1) private key,
 * `<kid>.pub.pem` a public key that only verifies (published ahead of use, or kept
 * after its private half was retired). Other files are ignored. Throws
 * KeyFileError if a key file is unusable or no private key is present.
 */
export function readKeyDir(dir: string): KeySet {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pem')).sort();
  } catch (err) {
    throw new KeyFileError(`${dir}: cannot read the pass key directory (${(err as Error).message})`);
  }
  const byKid = new Map<string, PassKey>();
  const hash = createHash('sha256');
  for (const name of names) {
    const isPublic = name.endsWith('.pub.pem');
    const kid = name.slice(0, name.length - (isPublic ? '.pub.pem' : '.pem').length);
    const file = join(dir, name);
    if (!KID.test(kid)) throw new KeyFileError(`${file}: the key id "${kid}" must be 1-64 characters of A-Z a-z 0-9 . _ -`);
    const pem = readFileSync(file, 'utf8');
    hash.update(name).update('\0').update(pem).update('\0');
    // A private key file wins over a public one of the same kid: it is the same key, and can sign.
    if (isPublic && byKid.has(kid)) continue;
    byKid.set(kid, toPassKey(kid, file, pem, !isPublic));
  }
  const keys = [...byKid.values()].sort((a, b) => (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0));
  const signers = keys.filter((k) => k.privateKey);
  const signing = signers[signers.length - 1];
  if (!signing) throw new KeyFileError(`${dir}: no private key (<kid>.pem); at least one is needed to sign passes`);
  return Object.freeze({ keys: Object.freeze(keys), signing, fingerprint: hash.digest('hex') });
}

/** A new key pair as PEM text. */
export function generateKeyPem(alg: PassAlg): { privatePem: string; publicPem: string } {
  const pair = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privatePem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/**
 * Makes sure a development key directory holds a private key, generating an ES256
 * pair on first start. Several replicas on one machine may race here: the key is
 * written under a temporary name and hard-linked into place, which fails instead
 * of overwriting, so every replica ends up with the same key.
 * Returns the file created, or undefined when a key was already there.
 */
export function ensureDevKey(dir: string, nowMs: number = Date.now()): string | undefined {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (readdirSync(dir).some((n) => n.endsWith('.pem') && !n.endsWith('.pub.pem'))) return undefined;
  const kid = `dev-${new Date(nowMs).toISOString().slice(0, 10)}`;
  const file = join(dir, `${kid}.pem`);
  const tmp = join(dir, `.${kid}.${process.pid}.tmp`);
  writeFileSync(tmp, generateKeyPem('ES256').privatePem, { mode: 0o600 });
  try {
    linkSync(tmp, file);
    return file;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}
