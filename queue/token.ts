import { randomBytes } from 'node:crypto';

/**
 * A queue token is `<concertId>.<secret>`: the concert part routes the lookup to the concert's keys,
 * the secret is 192 random bits. Anything else (globs, prefixes, other shapes) is refused before Redis
 * is asked, and Redis is only ever asked for the exact key.
 */
const TOKEN_PATTERN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{32})$/;

const SECRET_BYTES = 24;
/**
 * Secrets are cut from a pool the CSPRNG fills 256 at a time (as node's randomUUID does): a join makes
 * one whether or not it is kept (the join script keeps a live session's), and one `randomBytes` call
 * per join was 5 % of the API's CPU on the join path.
 */
const POOL_BYTES = SECRET_BYTES * 256;
let pool = Buffer.alloc(0);
let used = 0;

export function newTokenSecret(): string {
  if (used + SECRET_BYTES > pool.length) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  const secret = pool.toString('base64url', used, used + SECRET_BYTES);
  // Zeroed once cut: the pool never hands the same bytes out twice, and a secret leaves no copy behind.
  pool.fill(0, used, used + SECRET_BYTES);
  used += SECRET_BYTES;
  return secret;
}

export function formatToken(concertId: string, secret: string): string {
  return `${concertId}.${secret}`;
}

export function parseToken(token: string | undefined | null): { concertId: string; secret: string } | null {
  if (!token) return null;
  const match = TOKEN_PATTERN.exec(token);
  return match ? { concertId: match[1], secret: match[2] } : null;
}
