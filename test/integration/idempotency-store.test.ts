import { createHash, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../db/data-source';
import { IdempotencyStore } from '../../db/stores/idempotency';
import { pruneIdempotencyRecords } from '../../worker/idempotency-pruning';

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
  expect(owner).toEqual({ kind: 'owner', resumed: true });
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

describe('retention (issue 23)', () => {
  const DAY_S = 24 * 3600;
  /** Records aged by hand (created_at moved back), pruned with the pruner's clock given: no waiting. */
  const insertAged = async (user: string, key: string, ageSeconds: number) => {
    await store.claim(user, ENDPOINT, key, H);
    await store.complete(user, ENDPOINT, key, 201, { key });
    await db.query(`UPDATE idempotency_records SET created_at = now() - make_interval(secs => $4) WHERE user_id = $1 AND endpoint = $2 AND key = $3`, [
      user, ENDPOINT, key, ageSeconds,
    ]);
  };
  const keysOf = async (user: string) =>
    ((await db.query('SELECT key FROM idempotency_records WHERE user_id = $1 ORDER BY key', [user])) as Array<{ key: string }>).map((r) => r.key);

  it('prunes only records older than the retention, oldest first, a batch at a time; a pruned key is a new request again', async () => {
    const user = randomUUID();
    // Far older than anything another test leaves behind (and whatever an earlier run left that old
    // is cleared first), so the batches below take only ours.
    await pruneIdempotencyRecords(db, 399 * DAY_S, { maxBatches: 1_000 });
    const OLD = 400 * DAY_S;
    for (let i = 0; i < 5; i++) await insertAged(user, `old-${i}`, OLD + i);
    await insertAged(user, 'young', 3600);
    const clock = new Date(); // "now", as the pruner sees it: a retention of 399 days cuts between them

    expect(await store.pruneExpired(399 * DAY_S, 2, clock)).toBe(2);
    expect(await keysOf(user)).toEqual(['old-0', 'old-1', 'old-2', 'young']); // the two oldest went first
    expect(await pruneIdempotencyRecords(db, 399 * DAY_S, { now: clock, batch: 2 })).toBe(3);
    expect(await keysOf(user)).toEqual(['young']);
    expect(await store.pruneExpired(399 * DAY_S, 2, clock)).toBe(0); // idempotent: nothing left to do

    // The default 24 h: a record a day and a minute old goes, one an hour old stays.
    await insertAged(user, 'day-old', DAY_S + 60);
    expect(await pruneIdempotencyRecords(db, DAY_S, { maxBatches: 1_000 })).toBeGreaterThanOrEqual(1);
    expect(await keysOf(user)).toEqual(['young']);
    // A pruned key is a new request: another body is no longer a mismatch.
    expect(await store.claim(user, ENDPOINT, 'old-0', OTHER)).toEqual({ kind: 'owner' });
  });

  it('can find expired records through the index on created_at, not by reading every record', async () => {
    // On a test table of a few rows the planner may rightly prefer a scan; with scans priced out it
    // shows the index serves the pruner's query (on a big table it picks it by itself).
    const plan: Array<{ 'QUERY PLAN': string }> = await db.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      return tx.query(`EXPLAIN SELECT ctid FROM idempotency_records WHERE created_at < now() - make_interval(secs => 86400) ORDER BY created_at LIMIT 500`);
    });
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('idempotency_records_created_at');
  });

  it('pruners running at once share the work: each expired record is deleted exactly once', async () => {
    const user = randomUUID();
    await pruneIdempotencyRecords(db, 499 * DAY_S, { maxBatches: 1_000 });
    for (let i = 0; i < 30; i++) await insertAged(user, `k-${String(i).padStart(2, '0')}`, 500 * DAY_S);
    const clock = new Date();
    const deleted = await Promise.all(Array.from({ length: 4 }, () => pruneIdempotencyRecords(db, 499 * DAY_S, { now: clock, batch: 5 })));
    expect(deleted.reduce((a, b) => a + b, 0)).toBe(30);
    expect(await keysOf(user)).toEqual([]);
  });
});
