import { randomUUID } from 'node:crypto';
import { createDataSource } from '../../db/data-source';
import { findViolations } from '../../db/invariants';
import { WalletStore } from '../../db/stores/wallets';
import { codeOf, createUsers, openDb, settle, stores, type Stores } from './fixtures';
import { eventually } from '../support/eventually';
import { startStack, type Stack } from '../support/stack';

/**
 * Charges on ONE wallet at once, the hot row of a fan topping up from several devices: each charge is
 * one statement, so nothing serializes them but the wallet's row lock. Whatever the interleaving, the
 * balance is the sum of the distinct charges, the ledger has one row per distinct charge whose
 * `balance_after` is the running balance, and a charge retried with its key (even racing itself, in
 * one statement or from another process) answers the first charge and credits nothing.
 */

let s: Stores;
beforeAll(async () => {
  s = stores(await openDb(40));
});
afterAll(() => s?.db.destroy());

async function ledgerOf(userId: string): Promise<Array<{ id: string; amount: number; balanceAfter: number; key: string | null }>> {
  const found: Array<{ id: string; amount: string; balance_after: string; idempotency_key: string | null }> = await s.db.query(
    `SELECT id, amount, balance_after, idempotency_key FROM wallet_transactions WHERE user_id = $1 AND type = 'CHARGE' ORDER BY id`,
    [userId],
  );
  return found.map((r) => ({ id: String(r.id), amount: Number(r.amount), balanceAfter: Number(r.balance_after), key: r.idempotency_key }));
}

/** The ledger of one wallet is a running balance: each row's `balance_after` is the previous one plus its amount. */
function expectRunningBalance(ledger: Array<{ amount: number; balanceAfter: number }>): void {
  let balance = 0;
  for (const row of ledger) {
    balance += row.amount;
    expect(row.balanceAfter).toBe(balance);
  }
}

describe('parallel charges on one wallet (the store)', () => {
  it('credits every distinct charge once, with the same answer for every copy of a keyed charge', async () => {
    const [userId] = await createUsers(s, 1, 'hot-wallet');
    // 20 charges without a key, and 6 keyed charges each sent 3 times at once: 38 statements on one row,
    // each with a connection of its own (the pool has 40).
    const unkeyed = Array.from({ length: 20 }, (_, i) => ({ amount: 1_000 + i, key: undefined as string | undefined }));
    const keyed = Array.from({ length: 6 }, (_, i) => ({ amount: 100 + i, key: randomUUID() }));
    const sent = [...unkeyed, ...keyed, ...keyed, ...keyed].sort(() => Math.random() - 0.5);
    const answers = await Promise.all(sent.map((c) => s.wallets.charge(userId, c.amount, c.key).then((answer) => ({ ...c, answer }))));

    const distinct = [...unkeyed, ...keyed];
    const total = distinct.reduce((sum, c) => sum + c.amount, 0);
    expect(await s.wallets.balance(userId)).toBe(total);
    const ledger = await ledgerOf(userId);
    expect(ledger).toHaveLength(distinct.length);
    expectRunningBalance(ledger);

    // Every copy of a keyed charge answers the one ledger row of its key.
    for (const { key, amount } of keyed) {
      const copies = answers.filter((a) => a.key === key).map((a) => a.answer);
      const row = ledger.find((r) => r.key?.endsWith(`:${key}`));
      expect(row).toBeDefined();
      expect(copies).toEqual(Array(3).fill({ transactionId: row!.id, amount, balance: row!.balanceAfter }));
    }
    // Every unkeyed charge has a row of its own, and its answer is that row.
    const unkeyedAnswers = answers.filter((a) => a.key === undefined).map((a) => a.answer);
    expect(new Set(unkeyedAnswers.map((a) => a.transactionId)).size).toBe(unkeyed.length);
    for (const a of unkeyedAnswers) expect(ledger).toContainEqual({ id: a.transactionId, amount: a.amount, balanceAfter: a.balance, key: null });
    expect(await findViolations(s.db)).toEqual([]);
  });

  it('answers a retry after the charge committed with the first answer, crediting nothing', async () => {
    const [userId] = await createUsers(s, 1, 'retrier');
    const key = randomUUID();
    const first = await s.wallets.charge(userId, 4_000, key);
    await s.wallets.charge(userId, 500);
    const retried = await Promise.all(Array.from({ length: 5 }, () => s.wallets.charge(userId, 4_000, key)));
    expect(retried).toEqual(Array(5).fill(first));
    expect(first).toEqual({ transactionId: expect.any(String), amount: 4_000, balance: 4_000 });
    expect(await s.wallets.balance(userId)).toBe(4_500);
    expect(await ledgerOf(userId)).toHaveLength(2);
  });

  it('answers each charge of a statement its own row: repeats of a charged key, new keys twice, no key', async () => {
    const [userId] = await createUsers(s, 1, 'mixed');
    const [done, fresh] = [randomUUID(), randomUUID()];
    const first = await s.wallets.charge(userId, 1_000, done);
    // The first of these goes alone; the rest arrive while it runs and share the next statement.
    const [lone, repeat, freshA, plain, freshB, repeatAgain] = await Promise.all([
      s.wallets.charge(userId, 10),
      s.wallets.charge(userId, 1_000, done),
      s.wallets.charge(userId, 700, fresh),
      s.wallets.charge(userId, 20),
      s.wallets.charge(userId, 700, fresh),
      s.wallets.charge(userId, 1_000, done),
    ]);
    expect([repeat, repeatAgain]).toEqual([first, first]);
    expect(freshB).toEqual(freshA);
    const ledger = await ledgerOf(userId);
    expect(ledger).toHaveLength(4);
    expectRunningBalance(ledger);
    for (const answer of [lone, freshA, plain]) expect(ledger).toContainEqual(expect.objectContaining({ id: answer.transactionId, amount: answer.amount, balanceAfter: answer.balance }));
    expect([lone.amount, freshA.amount, plain.amount]).toEqual([10, 700, 20]);
    expect(await s.wallets.balance(userId)).toBe(1_730);
  });

  it('credits a key once when two API processes race with its first charge (two stores, one wallet)', async () => {
    // Two processes' statements with one new key, both past the ledger check before either commits: the
    // wallet's row is held locked until both wait for it. Their own pool, so the waiters can be told apart.
    const racers = createDataSource(process.env.DATABASE_URL!, { poolSize: 4, applicationName: 'wallet-charge-racers' });
    await racers.initialize();
    try {
      const [userId] = await createUsers(s, 1, 'two-processes');
      const [a, b] = [new WalletStore(racers), new WalletStore(racers)];
      const key = randomUUID();
      const blocker = s.db.createQueryRunner();
      await blocker.connect();
      await blocker.startTransaction();
      await blocker.query('SELECT 1 FROM wallets WHERE user_id = $1 FOR UPDATE', [userId]);
      const racing = Promise.all([a.charge(userId, 300, key), b.charge(userId, 300, key)]);
      await eventually(async () => {
        const [{ n }] = await s.db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'wallet-charge-racers' AND wait_event_type = 'Lock'`);
        expect(n).toBe(2);
      });
      await blocker.commitTransaction();
      await blocker.release();
      const [first, second] = await racing;
      expect(second).toEqual(first);
      expect(first).toEqual({ transactionId: expect.any(String), amount: 300, balance: 300 });
      expect(await s.wallets.balance(userId)).toBe(300);
      expect(await ledgerOf(userId)).toHaveLength(1);
    } finally {
      await racers.destroy();
    }
  });

  it('refuses every charge of a statement for a user without a wallet with NOT_FOUND', async () => {
    const nobody = randomUUID();
    const refused = await Promise.all([s.wallets.charge(nobody, 1), s.wallets.charge(nobody, 2, randomUUID()), s.wallets.charge(nobody, 3)].map(settle));
    expect(refused.map((r) => (r.ok ? 'charged' : codeOf(r.error)))).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
  });

  it('scopes a key to its user: the same key charges each wallet once', async () => {
    const [kim, lee] = await createUsers(s, 2, 'same-key');
    const key = randomUUID();
    await Promise.all([kim, lee, kim, lee].map((userId) => s.wallets.charge(userId, 2_000, key)));
    expect([await s.wallets.balance(kim), await s.wallets.balance(lee)]).toEqual([2_000, 2_000]);
  });

  it('refuses a user without a wallet with NOT_FOUND and writes nothing', async () => {
    const nobody = randomUUID();
    const refused = await settle(s.wallets.charge(nobody, 1_000, randomUUID()));
    expect(refused.ok).toBe(false);
    expect(codeOf(!refused.ok && refused.error)).toBe('NOT_FOUND');
    const [{ n }] = await s.db.query('SELECT count(*)::int AS n FROM wallet_transactions WHERE user_id = $1', [nobody]);
    expect(n).toBe(0);
  });
});

describe('parallel charges on one wallet over HTTP: POST /wallet/charges', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({}, { worker: false });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('adds up charges with and without keys, retried at once, exactly: 201 each, one ledger row per distinct charge', async () => {
    const fan = await stack.api.newFan('Hot wallet');
    // 14 + 5 × 3 = 29 requests, within the stack's 30 connections.
    const keys = Array.from({ length: 5 }, () => randomUUID());
    const requests: Array<{ amount: number; key?: string }> = [
      ...Array.from({ length: 14 }, () => ({ amount: 1_000 })),
      ...keys.flatMap((key) => Array.from({ length: 3 }, () => ({ amount: 250, key }))),
    ].sort(() => Math.random() - 0.5);
    const answers = await Promise.all(
      requests.map((r) => stack.api.call('POST', '/wallet/charges', { fan, body: { amount: r.amount }, headers: r.key ? { 'idempotency-key': r.key } : {} }).then((res) => ({ ...r, res }))),
    );
    expect(answers.map((a) => a.res.status)).toEqual(Array(requests.length).fill(201));
    for (const key of keys) expect(new Set(answers.filter((a) => a.key === key).map((a) => a.res.body.transactionId)).size).toBe(1);
    const total = 14 * 1_000 + keys.length * 250;
    expect((await stack.api.call('GET', '/wallet', { fan })).body.balance).toBe(total);
    const ledger = await ledgerOf(fan.userId);
    expect(ledger).toHaveLength(14 + keys.length);
    expectRunningBalance(ledger);
    expect(Math.max(...answers.map((a) => a.res.body.balance))).toBe(total);
    expect(await findViolations(stack.db)).toEqual([]);
  });
});
