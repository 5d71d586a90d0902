import { createHash, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../db/data-source';
import { IdempotencyStore } from '../../db/stores/idempotency';

/**
 * The key record is the lock of a keyed request: one owner at a time, a final answer replayed for
 * good, and a key whose outcome is unknown never freed but handed to exactly one retry at once.
 */
let db: DataSource;
let store: IdempotencyStore;
beforeAll(async () => {
  db = createDataSource(process.env.DATABASE_URL!, { poolSize: 25 });
  await db.initialize();
  store = new IdempotencyStore(db);
});
afterAll(async () => {
  await db.destroy();
});

const ENDPOINT = 'POST /wallet/charges';
/** Request hashes are sha256 hex, as api/idempotency.ts computes them. */
const H = createHash('sha256').update('{"amount":5}').digest('hex');
const OTHER = createHash('sha256').update('{"amount":6}').digest('hex');

it('20 concurrent claims of a new key: one owner; the others wait and replay its answer', async () => {
  const user = randomUUID();
  const claims = Array.from({ length: 20 }, () => store.claim(user, ENDPOINT, 'k', H));
  const first = await Promise.race(claims.map((c, i) => c.then((claim) => ({ claim, i }))));
  expect(first.claim).toEqual({ kind: 'owner' });
  await store.complete(user, ENDPOINT, 'k', 201, { transactionId: '1' });
  const all = await Promise.all(claims);
  expect(all.filter((c) => c.kind === 'owner')).toHaveLength(1);
  expect(all.filter((c) => c.kind === 'replay')).toEqual(Array.from({ length: 19 }, () => ({ kind: 'replay', status: 201, body: { transactionId: '1' } })));
});

it('a key left in doubt is not freed: one retry takes it over at once, concurrent ones wait for its answer', async () => {
  const user = randomUUID();
  expect(await store.claim(user, ENDPOINT, 'k', H)).toEqual({ kind: 'owner' });
  await store.markInDoubt(user, ENDPOINT, 'k');
  const [row] = await db.query('SELECT in_doubt, status_code FROM idempotency_records WHERE user_id = $1', [user]);
  expect(row).toEqual({ in_doubt: true, status_code: null });

  const retries = Array.from({ length: 20 }, () => store.claim(user, ENDPOINT, 'k', H));
  const owner = await Promise.race(retries);
  expect(owner).toEqual({ kind: 'owner' });
  await store.complete(user, ENDPOINT, 'k', 201, { balance: 5 });
  const all = await Promise.all(retries);
  expect(all.filter((c) => c.kind === 'owner')).toHaveLength(1);
  expect(all.filter((c) => c.kind === 'replay')).toHaveLength(19);
});

it('a key in doubt reused with another request is still 422 (mismatch), not a take-over', async () => {
  const user = randomUUID();
  await store.claim(user, ENDPOINT, 'k', H);
  await store.markInDoubt(user, ENDPOINT, 'k');
  expect(await store.claim(user, ENDPOINT, 'k', OTHER)).toEqual({ kind: 'mismatch' });
});

it('a settled answer is never put in doubt again', async () => {
  const user = randomUUID();
  await store.claim(user, ENDPOINT, 'k', H);
  await store.complete(user, ENDPOINT, 'k', 201, { ok: true });
  await store.markInDoubt(user, ENDPOINT, 'k');
  expect(await store.claim(user, ENDPOINT, 'k', H)).toEqual({ kind: 'replay', status: 201, body: { ok: true } });
});
