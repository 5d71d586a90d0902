/**
 * Fans in bulk, for the rush and mass-expiry: a `POST /users` each would cost the API more than the
 * rush itself (300,000 users at ~1,000/s is five minutes of one busy process), and users are not
 * what either scenario measures. So the bench writes users as `POST /users` would (user, wallet, and
 * here a charge with its ledger row, so balance = ledger holds), 10,000 per SQL statement, and signs their
 * access tokens itself with the bench API's AUTH_SECRET. Everything after that goes through the API.
 */
import { createHmac } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { issueAccessToken } from '../../api/auth';

/** Users per statement: the product's DataSource cancels statements that run for seconds. */
const CHUNK = 10_000;

/** Inserts `count` users with wallets holding `balance` KRW (one CHARGE each when > 0); returns their ids. */
export async function mintUsers(db: DataSource, count: number, namePrefix: string, balance: number): Promise<string[]> {
  const ids: string[] = [];
  for (let from = 0; from < count; from += CHUNK) {
    const rows: Array<{ user_id: string }> = await db.query(
      `WITH u AS (
         INSERT INTO users (id, name) SELECT gen_random_uuid(), $1 || g FROM generate_series($2::int, $3::int) g RETURNING id
       ), w AS (
         INSERT INTO wallets (user_id, balance) SELECT id, $4 FROM u RETURNING user_id
       ), charged AS (
         INSERT INTO wallet_transactions (user_id, type, amount, balance_after) SELECT user_id, 'CHARGE', $4, $4 FROM w WHERE $4 > 0
       )
       SELECT user_id FROM w`,
      [namePrefix, from + 1, Math.min(count, from + CHUNK), balance],
    );
    for (const row of rows) ids.push(row.user_id);
  }
  return ids;
}

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

/**
 * The access token `issueAccessToken` (api/auth.ts) would issue, byte for byte, in ~5 µs instead of
 * ~150 µs (hono/jwt signs through WebCrypto, importing the key on every call): 300,000 fans' tokens
 * in about a second. `assertSameTokens` proves the equality before a run relies on it.
 */
export function signAccessToken(userId: string, secret: string, ttlSeconds: number, nowSeconds: number): string {
  const payload = Buffer.from(JSON.stringify({ sub: userId, iat: nowSeconds, exp: nowSeconds + ttlSeconds })).toString('base64url');
  const signature = createHmac('sha256', secret).update(`${HEADER}.${payload}`).digest('base64url');
  return `${HEADER}.${payload}.${signature}`;
}

export async function assertSameTokens(userId: string, secret: string): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const ours = signAccessToken(userId, secret, 3600, now);
  const product = await issueAccessToken(userId, secret, 3600, now);
  if (ours !== product) throw new Error(`the bench's token differs from the API's:\n  ${ours}\n  ${product}`);
}
