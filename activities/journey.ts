import type { DataSource } from 'typeorm';
import type Redis from 'ioredis';
import { HoldStore, type HeldSeatRow, type HoldSeatRequest } from '../db/stores/holds';
import { WalletStore, type RefundOutcome } from '../db/stores/wallets';
import { SeatGate } from '../queue/seat-gate';
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

/** The fan journey's side effects. Each is idempotent: a retry after a crash changes nothing twice. */
export function createJourneyActivities({ db, redis }: JourneyDeps) {
  const holds = new HoldStore(db);
  const wallets = new WalletStore(db);
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

    async debitWallet(p: { paymentId: string; userId: string; reservationId: string }): Promise<{ amount: number; balance: number }> {
      return refusalsAreFinal(() => wallets.debitForPayment(p));
    },

    async confirmPayment(p: { paymentId: string; reservationId: string }): Promise<void> {
      return refusalsAreFinal(() => holds.confirm(p.paymentId, p.reservationId));
    },

    async refundPayment(p: { paymentId: string; userId: string; reservationId: string }): Promise<RefundOutcome> {
      return wallets.refundPayment(p);
    },

    /** Ends the fan's queue session and keeps the gates of sold seats closed for good. */
    async endSession(s: { token: string; userId: string; concertId: string; status: 'COMPLETED' | 'EXPIRED' | 'LEFT'; soldSeats: SeatRef[] }): Promise<void> {
      await Promise.all(s.soldSeats.map((seat) => gate.seal(s.concertId, seat.scheduleId, seat.seatNumber, seat.reservationId)));
      await room.endSession(s.token, s.userId, s.status);
    },
  };
}

export type JourneyActivities = ReturnType<typeof createJourneyActivities>;
