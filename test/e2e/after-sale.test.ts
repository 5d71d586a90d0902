import { randomUUID } from 'node:crypto';
import { queueKeys } from '../../queue/keys';
import type { Fan } from '../support/api-client';
import { eventually } from '../support/eventually';
import { buyTicket, saleStack } from '../support/sale';

/**
 * After the sale, through the API, the worker, Postgres, Redis and the Temporal dev server: a fan
 * gives a ticket back under the concert's policy and the seat sells again; an operator calls a show
 * off and watches every ticket refunded.
 */
const stack = saleStack();

const PRICE = 40_000;
const DAY = 24 * 3600_000;

async function concert(refundPolicy?: unknown, seatCount = 10, startsInMs = 7 * DAY) {
  const res = await stack.api.call('POST', '/admin/concerts', {
    admin: true,
    body: { title: 'After-sale', ...(refundPolicy ? { refundPolicy } : {}), schedules: [{ startsAt: new Date(Date.now() + startsInMs).toISOString(), seatCount, price: PRICE }] },
  });
  expect(res.status).toBe(201);
  return { concertId: res.body.concertId as string, scheduleId: res.body.schedules[0].scheduleId as string };
}

/** An admitted fan who holds and pays one seat, through the API. */
const buy = (concertId: string, scheduleId: string, seat: number) => buyTicket(stack.api, concertId, scheduleId, seat);

const cancelTicket = (fan: Fan, reservationId: string, headers?: Record<string, string>) =>
  stack.api.call('POST', `/tickets/${reservationId}/cancellation`, { fan, headers });

const refundEntries = async (reservationId: string) =>
  (await stack.db.query(`SELECT amount::int AS amount FROM wallet_transactions WHERE idempotency_key = $1`, [`ticket:${reservationId}:refund`])) as Array<{ amount: number }>;

describe('a fan cancels a paid ticket', () => {
  it('is refunded under the concert’s policy, once per Idempotency-Key; the seat sells again at once', async () => {
    const { api } = stack;
    // 7 days ahead: a full refund would need 1,000 hours' notice, so the 25 % tier applies.
    const policy = { cutoffHours: 1, tiers: [{ hoursBefore: 1000, feePercent: 0 }, { hoursBefore: 1, feePercent: 25 }] };
    const { concertId, scheduleId } = await concert(policy);
    const { fan, reservationId } = await buy(concertId, scheduleId, 4);

    const key = { 'idempotency-key': randomUUID() };
    const cancelled = await cancelTicket(fan, reservationId, key);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ reservationId, status: 'CANCELLED', paymentStatus: 'PARTIALLY_REFUNDED', paid: PRICE, refunded: PRICE * 0.75, fee: PRICE * 0.25 });
    const replayed = await cancelTicket(fan, reservationId, key);
    expect(replayed.status).toBe(200);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.body).toEqual(cancelled.body);
    const again = await cancelTicket(fan, reservationId);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('TICKET_ALREADY_CANCELLED');
    expect(again.headers.get('content-type')).toMatch(/problem\+json/);

    expect(await refundEntries(reservationId)).toEqual([{ amount: PRICE * 0.75 }]);
    expect((await api.call('GET', '/wallet', { fan })).body.balance).toBe(100_000 - PRICE * 0.25);
    const mine = await api.call('GET', '/tickets', { fan });
    expect(mine.status).toBe(200);
    expect(mine.body.items).toEqual([
      expect.objectContaining({ reservationId, concertId, scheduleId, seatNumber: 4, price: PRICE, status: 'CANCELLED', refund: expect.objectContaining({ amount: PRICE * 0.75, fee: PRICE * 0.25, reason: 'FAN_CANCELLED' }) }),
    ]);
    expect((await api.call('GET', `/reservations/${reservationId}`, { fan })).body.status).toBe('CANCELLED');

    // The seat is on sale again at once, gate included: the next fan holds it.
    const next = await api.admittedFan(concertId, 'Next');
    expect((await api.hold(next.fan, next.queueToken, scheduleId, 4)).status).toBe(201);

    // The cancellation is a workflow the operator finds by the fan's user id.
    await eventually(async () => {
      const found = [];
      for await (const wf of stack.temporal.workflow.list({ query: `UserId = '${fan.userId}' AND WorkflowType = 'ticketCancellation'` })) found.push(wf.status.name);
      expect(found).toEqual(['COMPLETED']);
    });
  });

  it('refuses after the cut-off (409 CANCELLATION_CLOSED) and someone else’s ticket (403), refunding nothing', async () => {
    const { concertId, scheduleId } = await concert({ cutoffHours: 24 * 30, tiers: [{ hoursBefore: 0, feePercent: 0 }] });
    const { fan, reservationId } = await buy(concertId, scheduleId, 1);
    const closed = await cancelTicket(fan, reservationId);
    expect(closed.status).toBe(409);
    expect(closed.body.code).toBe('CANCELLATION_CLOSED');
    const stranger = await stack.api.newFan('Stranger');
    expect((await cancelTicket(stranger, reservationId)).status).toBe(403);
    expect((await cancelTicket(fan, randomUUID())).status).toBe(404);
    expect(await refundEntries(reservationId)).toEqual([]);
    expect((await stack.api.call('GET', '/tickets', { fan })).body.items[0]).toMatchObject({ status: 'CONFIRMED' });
  });

  it('refunds once when 20 cancellations of one ticket race', async () => {
    const { concertId, scheduleId } = await concert(undefined, 10, 30 * DAY); // a full refund under the default policy
    const { fan, reservationId } = await buy(concertId, scheduleId, 2);
    const answers = await Promise.all(Array.from({ length: 20 }, () => cancelTicket(fan, reservationId)));
    const outcomes = answers.map((a) => (a.status === 200 ? 'CANCELLED' : `${a.status} ${a.body.code}`));
    expect(outcomes).toContain('CANCELLED');
    expect(outcomes.filter((o) => o !== 'CANCELLED' && o !== '409 TICKET_ALREADY_CANCELLED')).toEqual([]);
    // Every 200 is the one refund, shared by the requests that joined the running cancellation.
    expect(new Set(answers.filter((a) => a.status === 200).map((a) => a.body.refundedAt)).size).toBe(1);
    expect(await refundEntries(reservationId)).toEqual([{ amount: PRICE }]);
    expect((await stack.api.call('GET', '/wallet', { fan })).body.balance).toBe(100_000);
  });
});

describe('an operator cancels a show', () => {
  it('closes the queue, ends live journeys, refunds every ticket at a rate changed live, and reports', async () => {
    const { api } = stack;
    const { concertId, scheduleId } = await concert(undefined, 20);
    const buyers = [];
    for (let seat = 1; seat <= 6; seat += 1) buyers.push(await buy(concertId, scheduleId, seat));
    const holder = await api.admittedFan(concertId, 'Holder');
    const held = await api.hold(holder.fan, holder.queueToken, scheduleId, 10);
    expect(held.status).toBe(201);

    const missing = await api.call('POST', `/admin/concerts/${randomUUID()}/cancellation`, { admin: true, body: {} });
    expect(missing.status).toBe(404);
    expect((await api.call('POST', `/admin/concerts/${concertId}/cancellation`, { body: {} })).status).toBe(401);

    const started = await api.call('POST', `/admin/concerts/${concertId}/cancellation`, { admin: true, body: { ratePerSecond: 1, batchSize: 10 } });
    expect(started.status).toBe(202);
    const twice = await api.call('POST', `/admin/concerts/${concertId}/cancellation`, { admin: true, body: {} });
    expect(twice.status).toBe(200);

    // Watched while it runs: part refunded, part to go (one ticket a second).
    const midway = await eventually(async () => {
      const res = await api.call('GET', `/admin/concerts/${concertId}/cancellation`, { admin: true });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'REFUNDING', total: 6 });
      expect(res.body.refunded).toBeGreaterThan(0);
      expect(res.body.remaining).toBeGreaterThan(0);
      return res.body;
    });
    expect(midway.amount).toBe(midway.refunded * PRICE);
    expect((await api.call('PUT', `/admin/concerts/${concertId}/cancellation`, { admin: true, body: { ratePerSecond: 0 } })).status).toBe(400);
    const faster = await api.call('PUT', `/admin/concerts/${concertId}/cancellation`, { admin: true, body: { ratePerSecond: 1000 } });
    expect(faster.status).toBe(200);
    expect(faster.body.ratePerSecond).toBe(1000);

    const report = await eventually(async () => {
      const res = await api.call('GET', `/admin/concerts/${concertId}/cancellation`, { admin: true });
      expect(res.body.status).toBe('COMPLETED');
      return res.body;
    }, { timeoutMs: 30_000 });
    expect(report).toMatchObject({ total: 6, refunded: 6, remaining: 0, amount: 6 * PRICE, failures: 0, scheduleIds: [scheduleId] });
    expect(report.journeysEnded).toBeGreaterThanOrEqual(1);

    for (const b of buyers) {
      expect(await refundEntries(b.reservationId)).toEqual([{ amount: PRICE }]);
      expect((await api.call('GET', '/wallet', { fan: b.fan })).body.balance).toBe(100_000);
      expect((await api.call('GET', '/tickets', { fan: b.fan })).body.items[0]).toMatchObject({ status: 'CANCELLED', showCancelled: true, refund: { amount: PRICE, fee: 0, reason: 'SHOW_CANCELLED' } });
    }
    // The live hold was released through its journey; the queue is closed for good.
    await eventually(async () => expect((await api.call('GET', `/reservations/${held.body.reservationId}`, { fan: holder.fan })).body.status).toBe('CANCELLED'));
    expect(await stack.redis.get(queueKeys(concertId).closed)).toBe('CANCELLED');
    // The progress is in the Temporal UI's list too.
    await eventually(async () => {
      const found = [];
      for await (const wf of stack.temporal.workflow.list({ query: `ConcertId = '${concertId}' AND CancellationStatus = 'COMPLETED' AND TicketsRefunded = 6` })) found.push(wf.workflowId);
      expect(found).toEqual([`show-cancellation-${concertId}`]);
    });
  });
  it('cancels one date only: its tickets are refunded, the other date and the queue stay on sale', async () => {
    const { api } = stack;
    const startsAt = new Date(Date.now() + 30 * DAY).toISOString();
    const created = await api.call('POST', '/admin/concerts', {
      admin: true,
      body: { title: 'Two dates', schedules: [{ startsAt, seatCount: 5, price: PRICE }, { startsAt, seatCount: 5, price: PRICE }] },
    });
    const concertId: string = created.body.concertId;
    const [cancelledDate, keptDate] = created.body.schedules.map((x: { scheduleId: string }) => x.scheduleId);
    const gone = await buy(concertId, cancelledDate, 1);
    const kept = await buy(concertId, keptDate, 1);

    const started = await api.call('POST', `/admin/concerts/${concertId}/cancellation`, { admin: true, body: { scheduleId: cancelledDate } });
    expect(started.status).toBe(202);
    const report = await eventually(async () => {
      const res = await api.call('GET', `/admin/concerts/${concertId}/cancellation?scheduleId=${cancelledDate}`, { admin: true });
      expect(res.body.status).toBe('COMPLETED');
      return res.body;
    }, { timeoutMs: 30_000 });
    expect(report).toMatchObject({ scheduleId: cancelledDate, scheduleIds: [cancelledDate], total: 1, refunded: 1, amount: PRICE });
    expect(await refundEntries(gone.reservationId)).toEqual([{ amount: PRICE }]);
    expect(await refundEntries(kept.reservationId)).toEqual([]);
    expect((await api.call('GET', '/tickets', { fan: kept.fan })).body.items[0]).toMatchObject({ status: 'CONFIRMED', showCancelled: false });
    // The whole concert was not cancelled: no report for it, the queue stays open, the other date sells.
    expect((await api.call('GET', `/admin/concerts/${concertId}/cancellation`, { admin: true })).status).toBe(404);
    expect(await stack.redis.get(queueKeys(concertId).closed)).toBeNull();
    const next = await api.admittedFan(concertId, 'Still buying');
    expect((await api.hold(next.fan, next.queueToken, keptDate, 2)).status).toBe(201);
    expect((await api.hold(next.fan, next.queueToken, cancelledDate, 2)).status).toBe(409);
  });
});
