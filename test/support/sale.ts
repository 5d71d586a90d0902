import type { DataSource } from 'typeorm';
import { findViolations } from '../../db/invariants';
import type { ApiClient, Fan } from './api-client';
import { startStack, type Stack } from './stack';

/**
 * The set-up the sale's end-to-end suites share (payments, orders, after-sale): the whole system for
 * the file, checked against the database's invariants when the file ends; a fan admitted with money;
 * seats held; a ticket bought; a wallet's ledger.
 */

/**
 * The whole system (API, worker, Temporal, PostgreSQL, Redis) for this test file: started before its
 * first test, stopped after its last, and every invariant of the books must hold then. Call it at
 * the top of the file; the stack it returns is usable inside tests (it forwards to the started one).
 */
export function saleStack(): Stack {
  let started: Stack | undefined;
  beforeAll(async () => {
    started = await startStack();
  });
  afterAll(async () => {
    if (!started) return;
    const violations = await findViolations(started.db);
    await started.stop();
    if (violations.length) throw new Error(`invariants violated after the suite: ${JSON.stringify(violations)}`);
  });
  return new Proxy({} as Stack, {
    get(_target, property) {
      if (!started) throw new Error('the suite’s stack is used outside its tests (before beforeAll started it)');
      return Reflect.get(started, property);
    },
  });
}

/** A new fan admitted to `concertId` (its token ACTIVE) with `balance` in the wallet. */
export async function fanWithMoney(api: ApiClient, concertId: string, balance: number, name?: string): Promise<{ fan: Fan; queueToken: string }> {
  const admitted = await api.admittedFan(concertId, name);
  await api.charge(admitted.fan, balance);
  return admitted;
}

/** Holds each seat in turn for the fan; every hold must be granted. The reservation ids, in seat order. */
export async function holdSeats(api: ApiClient, fan: Fan, queueToken: string, scheduleId: string, seats: number[]): Promise<string[]> {
  const ids: string[] = [];
  for (const seat of seats) {
    const held = await api.hold(fan, queueToken, scheduleId, seat);
    if (held.status !== 201) throw new Error(`hold of seat ${seat}: ${held.status} ${JSON.stringify(held.body)}`);
    ids.push(held.body.reservationId);
  }
  return ids;
}

/** A new fan, admitted with 100,000 in the wallet, who holds and pays seat `seat`: a paid ticket. */
export async function buyTicket(api: ApiClient, concertId: string, scheduleId: string, seat: number): Promise<{ fan: Fan; reservationId: string }> {
  const { fan, queueToken } = await fanWithMoney(api, concertId, 100_000);
  const [reservationId] = await holdSeats(api, fan, queueToken, scheduleId, [seat]);
  const paid = await api.pay(fan, queueToken, reservationId);
  if (paid.status !== 201) throw new Error(`payment of seat ${seat}: ${paid.status} ${JSON.stringify(paid.body)}`);
  return { fan, reservationId };
}

/** The wallet's ledger entries, oldest first: type and amount, and with `seats` the seats each names. */
export async function ledgerOf(db: DataSource, userId: string, opts: { seats?: boolean } = {}): Promise<Array<{ type: string; amount: number; reservation_ids?: string[] | null }>> {
  return db.query(`SELECT type, amount::int AS amount${opts.seats ? ', reservation_ids' : ''} FROM wallet_transactions WHERE user_id = $1 ORDER BY id`, [userId]);
}
