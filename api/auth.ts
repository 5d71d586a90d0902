import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { sign } from 'hono/jwt';
import { DomainError } from '../lib/domain-error';
import { Lru } from '../lib/lru';
import type { AppEnv } from './deps';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An HS256 access token: `sub` is the user id, `exp` its expiry. */
export function issueAccessToken(userId: string, secret: string, ttlSeconds: number, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  return sign({ sub: userId, iat: nowSeconds, exp: nowSeconds + ttlSeconds }, secret, 'HS256');
}

interface Claims {
  sub: string;
  exp: number;
  nbf?: number;
}

/**
 * Verifies an HS256 token issued by `issueAccessToken` and returns its subject, or null. It uses
 * Node's HMAC directly (~10 µs): `hono/jwt`'s verify imports the key through WebCrypto on each call.
 */
export function verifiedSubject(token: string, secret: string | KeyObject, nowSeconds = Date.now() / 1000): string | null {
  const claims = verifiedClaims(token, secret);
  return claims && current(claims, nowSeconds) ? claims.sub : null;
}

/** The claims of a well-signed HS256 token with an expiry and a user id for subject; time not checked. */
function verifiedClaims(token: string, secret: string | KeyObject): Claims | null {
  const [header, payload, signature] = token.split('.');
  if (!header || !payload || !signature) return null;
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const { alg } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown };
    const { sub, exp, nbf } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown; exp?: unknown; nbf?: unknown };
    if (alg !== 'HS256' || typeof exp !== 'number') return null;
    if (nbf !== undefined && typeof nbf !== 'number') return null;
    return typeof sub === 'string' && UUID.test(sub) ? { sub, exp, ...(nbf !== undefined ? { nbf } : {}) } : null;
  } catch {
    return null;
  }
}

function current(claims: Claims, nowSeconds: number): boolean {
  return claims.exp > nowSeconds && (claims.nbf === undefined || claims.nbf <= nowSeconds);
}

/** Verified tokens remembered per process: fans poll with the same token for hours. */
const VERIFIED_TOKENS = 100_000;
const verifiers = new Map<string, { key: KeyObject; verified: Lru<string, Claims> }>();

/** One key and one cache per secret, shared by every route that authenticates. */
function verifierFor(secret: string) {
  let verifier = verifiers.get(secret);
  if (!verifier) verifiers.set(secret, (verifier = { key: createSecretKey(Buffer.from(secret, 'utf8')), verified: new Lru<string, Claims>(VERIFIED_TOKENS) }));
  return verifier;
}

/**
 * The user comes from the verified bearer credential only, never from a body or a path. A token
 * verified once is remembered (bounded, least recently used forgotten first), so a poll costs a map
 * lookup instead of an HMAC and two JSON parses; its `exp` and `nbf` are still checked on every use.
 * Only tokens with a valid signature are remembered, so forged ones cannot push real ones out
 * faster than real traffic would.
 */
export function requireUser(secret: string, now: () => number = () => Date.now()): MiddlewareHandler<AppEnv> {
  const { key, verified } = verifierFor(secret);
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(header);
    if (!match) throw new DomainError('UNAUTHENTICATED', 'a bearer access token is required');
    const token = match[1];
    let claims = verified.get(token);
    if (!claims) {
      const fresh = verifiedClaims(token, key);
      if (fresh) verified.set(token, (claims = fresh));
    }
    if (!claims || !current(claims, now() / 1000)) throw new DomainError('UNAUTHENTICATED', 'the access token is invalid or expired');
    c.set('userId', claims.sub);
    await next();
  };
}

/** Operator endpoints: the key is compared in constant time (over digests, so lengths leak nothing). */
export function requireAdmin(adminKey: string): MiddlewareHandler<AppEnv> {
  const expected = createHash('sha256').update(adminKey).digest();
  return async (c, next) => {
    const given = createHash('sha256').update(c.req.header('x-admin-key') ?? '').digest();
    if (!c.req.header('x-admin-key') || !timingSafeEqual(given, expected)) {
      throw new DomainError('UNAUTHENTICATED', 'a valid X-Admin-Key is required');
    }
    await next();
  };
}
