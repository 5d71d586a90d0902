import type { DataSource } from 'typeorm';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient as Redis } from '../lib/redis';
import { HoldStore, type HeldSeatRow, type HoldSeatRequest } from '../db/stores/holds';
import { SaleStore } from '../db/stores/sales';
import { WalletStore, type CompletedPayment, type OrderRef, type RefundOutcome } from '../db/stores/wallets';
import { queueKeys } from '../queue/keys';
import { SeatGate } from '../queue/seat-gate';
import { parseToken } from '../queue/token';
import { WaitingRoom } from '../queue/waiting-room';
import { refusalsAreFinal } from './business-failure';

export interface JourneyDeps {
  db: DataSource;
  redis: Redis;
}

export interface SeatRef {
  scheduleId: string;
  seatNumber: number;
  reservationId: string;
}

/** How a fan's queue session ends, and the seats sold in it (their gates stay closed for good). */
export interface SessionEnd {
  /** Journeys started before issue 23 name their session by its token; new ones by the fan's arrival. */
  token?: string;
  arrival?: number;
  userId: string;
  status: 'COMPLETED' | 'EXPIRED' | 'LEFT';
  soldSeats: SeatRef[];
}

export interface ReleaseRequest {
  concertId: string;
  outcome: 'EXPIRED' | 'CANCELLED';
  holds: SeatRef[];
  /** Set when the journey's session ends with this release (the window is over, a sale, the fan left). */
  session?: SessionEnd;
}

/** Adds the END_SESSION script for `session` to a pipeline: by its token (older journeys) or by the fan's arrival. */
function endSessionIn(pipeline: ChainableCommander, concertId: string, session: SessionEnd): void {
  if (session.token) {
    const token = parseToken(session.token);
    if (!token) return;
    const own = queueKeys(token.concertId);
    pipeline.ovEndSession(own.session(session.userId), own.active, session.userId, token.secret, session.status, '');
  } else if (session.arrival !== undefined) {
    const own = queueKeys(concertId);
    pipeline.ovEndSession(own.session(session.userId), own.active, session.userId, '', session.status, String(session.arrival));
  }
}

/** The fan journey's side effects. Each is idempotent: a retry after a crash changes nothing twice. */
export function createJourneyActivities({ db, redis }: JourneyDeps) {
  const holds = new HoldStore(db);
  const wallets = new WalletStore(db);
  const sales = new SaleStore(db);
  const gate = new SeatGate(redis);
  const room = new WaitingRoom(redis);

  return {
    async holdSeat(request: HoldSeatRequest): Promise<HeldSeatRow> {
      return refusalsAreFinal(() => holds.hold(request));
    },

    async releaseHold(r: SeatRef & { concertId: string; outcome: 'EXPIRED' | 'CANCELLED' }): Promise<boolean> {
      const released = await holds.release(r.reservationId, r.outcome);
      await gate.release(r.concertId, r.scheduleId, r.seatNumber, r.reservationId);
      return released;
    },

    /**
     * Releases a journey's batch of holds and, when asked, ends its session: one SQL statement for
     * every hold, then one Redis pipeline for their gates, the sold seats' seals and the session's
     * end. Idempotent: a retry releases nothing twice and ends nothing twice.
     */
    async releaseHolds(r: ReleaseRequest): Promise<string[]> {
      const released = await holds.releaseMany(r.holds.map((h) => h.reservationId), r.outcome);
      // The same scripts SeatGate and WaitingRoom run one by one, sent together.
      const keys = queueKeys(r.concertId);
      const pipeline = redis.pipeline();
      for (const h of r.holds) pipeline.ovGateRelease(keys.seatGate(h.scheduleId, h.seatNumber), h.reservationId);
      const session = r.session;
      if (session) {
        for (const seat of session.soldSeats) pipeline.ovGateSeal(keys.seatGate(seat.scheduleId, seat.seatNumber), seat.reservationId);
        endSessionIn(pipeline, r.concertId, session);
      }
      if (pipeline.length) {
        for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
      }
      return released;
    },

    // The payment's steps take an order: one seat (`reservationId`, as before orders existed) or
    // several (`reservationIds` too). One purchase (or, in journeys that paid before it, one debit and
    // one confirm), one refund however many seats.

    /** The debit and the confirm in one transaction: the payment of every journey since issue 25's one-task payment. */
    async purchase(p: OrderRef): Promise<{ amount: number; balance: number }> {
      return refusalsAreFinal(() => sales.purchase(p));
    },

    /** The completed order of the fan that bought any of these seats (a purchase refused as sold asks). */
    async saleOf(p: OrderRef): Promise<CompletedPayment | null> {
      return sales.saleOf(p);
    },

    async debitWallet(p: OrderRef): Promise<{ amount: number; balance: number }> {
      return refusalsAreFinal(() => wallets.debitForPayment(p));
    },

    async confirmPayment(p: Omit<OrderRef, 'userId'>): Promise<void> {
      return refusalsAreFinal(() => holds.confirm(p.paymentId, p.reservationIds?.length ? p.reservationIds : p.reservationId));
    },

    async refundPayment(p: OrderRef): Promise<RefundOutcome> {
      return wallets.refundPayment(p);
    },

    /**
     * NO_SHOW_SECONDS after admission: ends the session NO_SHOW, freeing its active slot, unless the
     * fan has made a request since admission (one script: the check and the end are atomic, so a
     * request that lands meanwhile is never lost). True when the fan was a no-show.
     */
    async endIfNoShow(s: { concertId: string; userId: string; arrival: number }): Promise<boolean> {
      const k = queueKeys(s.concertId);
      return (await redis.ovEndIfNoShow(k.session(s.userId), k.active, s.userId, String(s.arrival))) === 'NO_SHOW';
    },

    /** Ends the fan's queue session and keeps the gates of sold seats closed for good. */
    async endSession(s: SessionEnd & { concertId: string }): Promise<void> {
      await Promise.all(s.soldSeats.map((seat) => gate.seal(s.concertId, seat.scheduleId, seat.seatNumber, seat.reservationId)));
      if (s.token) await room.endSession(s.token, s.userId, s.status);
      else {
        const pipeline = redis.pipeline();
        endSessionIn(pipeline, s.concertId, s);
        for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
      }
    },
  };
}

export type JourneyActivities = ReturnType<typeof createJourneyActivities>;
