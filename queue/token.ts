import { randomBytes } from 'node:crypto';

/**
 * A queue token is `<concertId>.<secret>`: the concert part routes the lookup to the concert's keys,
 * the secret is 192 random bits. Anything else (globs, prefixes, other shapes) is refused before Redis
 * is asked, and Redis is only ever asked for the exact key.
 */
const TOKEN_PATTERN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{32})$/;

export function newTokenSecret(): string {
  return randomBytes(24).toString('base64url');
}

export function formatToken(concertId: string, secret: string): string {
  return `${concertId}.${secret}`;
}

export function parseToken(token: string | undefined | null): { concertId: string; secret: string } | null {
  if (!token) return null;
  const match = TOKEN_PATTERN.exec(token);
  return match ? { concertId: match[1], secret: match[2] } : null;
}
