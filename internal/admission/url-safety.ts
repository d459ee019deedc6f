/** Query parameter names that carry credentials in common schemes. */
const TOKEN_PARAMS = new Set(['token', 'pass', 'ticket', 'access_token', 'id_token', 'jwt', 'auth', 'authorization', 'waitroom_pass', 'waitroom_token']);

/** Three base64url segments: what any JWT looks like, whatever its parameter is called. */
const JWT_LIKE = /^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$/;
const JWT_INSIDE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

/**
 * The URL with every credential removed: user info, query parameters named like
 * a token (plus `extraNames`, e.g. the pass cookie name) or holding a JWT, and a
 * fragment that mentions a token. A shared or bookmarked link therefore never
 * carries a ticket or a pass. Returns '' for '' and for anything but http(s).
 */
export function stripTokens(url: string, extraNames: readonly string[] = []): string {
  if (!url) return '';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return '';
  u.username = '';
  u.password = '';
  const extra = new Set(extraNames.map((n) => n.toLowerCase()));
  for (const [name, value] of [...u.searchParams]) {
    const n = name.toLowerCase();
    if (TOKEN_PARAMS.has(n) || extra.has(n) || JWT_LIKE.test(value)) u.searchParams.delete(name);
  }
  if (u.hash && (/token|pass|ticket/i.test(u.hash) || JWT_INSIDE.test(u.hash))) u.hash = '';
  return u.toString();
}

/** True if `url` is an absolute http(s) URL on the same origin as `base`. */
export function sameOrigin(url: string, base: string): boolean {
  try {
    return new URL(url).origin === new URL(base).origin;
  } catch {
    return false;
  }
}
