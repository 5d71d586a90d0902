import { ApplicationFailure } from '@temporalio/common';
import type { JourneyActivities } from '../../activities/journey';
import type { RefundOutcome } from '../../db/stores/wallets';

type Call = { name: string; args: any };

/** The seats an order names: its `reservationIds`, or its one `reservationId`. */
const seatsOf = (p: { reservationId: string; reservationIds?: string[] }) => (p.reservationIds?.length ? p.reservationIds : [p.reservationId]);

/**
 * In-memory stand-ins for the journey's activities: they record every call and can be told to fail,
 * so a workflow test sees exactly which side effects the workflow asked for and when.
 */
export class FakeJourneyActivities {
  readonly calls: Call[] = [];
  balance = 100_000;
  price = 50_000;
  /** Failures to throw, by activity name: a business code (final) or 'transient' (retried). */
  failures: Record<string, Array<string>> = {};
  /** What Redis would answer the no-show check: the fan made no request since admission. */
  noShow = true;
  private debited = new Set<string>();
  /**
   * A sale the database has and the journey never saw: an earlier pay update of the journey whose
   * accepting task was lost after its purchase committed. A purchase of another order for these
   * seats is refused as sold, and `saleOf` names this one.
   */
  soldUnseen?: { paymentId: string; reservationIds: string[] };
  /** Orders a purchase sold (debit and confirm in one transaction). */
  private purchased = new Set<string>();
  private refunded = new Set<string>();

  private maybeFail(name: string): void {
    const next = this.failures[name]?.shift();
    if (!next) return;
    if (next === 'transient') throw new Error(`${name}: transient outage`);
    throw ApplicationFailure.create({ type: next, message: `${name} refused: ${next}`, nonRetryable: true });
  }

  /** Takes the price from the balance once per payment id (`taken` remembers which), or refuses for balance. */
  private takeOnce(taken: Set<string>, paymentId: string): { amount: number; balance: number } {
    if (!taken.has(paymentId)) {
      if (this.balance < this.price) {
        throw ApplicationFailure.create({ type: 'INSUFFICIENT_BALANCE', message: 'balance too low', nonRetryable: true });
      }
      this.balance -= this.price;
      taken.add(paymentId);
    }
    return { amount: this.price, balance: this.balance };
  }

  named(name: string): any[] {
    return this.calls.filter((c) => c.name === name).map((c) => c.args);
  }

  /** Every hold released, one entry per hold, whichever activity released it (one by one, or a batch). */
  released(): Array<{ reservationId: string; outcome: string }> {
    return this.calls.flatMap((c) => {
      if (c.name === 'releaseHold') return [{ reservationId: c.args.reservationId, outcome: c.args.outcome }];
      if (c.name === 'releaseHolds') return c.args.holds.map((h: { reservationId: string }) => ({ reservationId: h.reservationId, outcome: c.args.outcome }));
      return [];
    });
  }

  /** Every end of the session asked for (on its own, or with a batch of releases). */
  sessionEnds(): any[] {
    return this.calls.flatMap((c) => {
      if (c.name === 'endSession') return [c.args];
      if (c.name === 'releaseHolds' && c.args.session) return [c.args.session];
      return [];
    });
  }

  activities(): JourneyActivities {
    const record = (name: string, args: any) => this.calls.push({ name, args });
    return {
      holdSeat: async (r) => {
        record('holdSeat', r);
        this.maybeFail('holdSeat');
        return { reservationId: r.reservationId, seatId: String(r.seatNumber), price: this.price, status: 'HELD', heldUntil: r.heldUntil };
      },
      releaseHold: async (r) => {
        record('releaseHold', r);
        this.maybeFail('releaseHold');
        return true;
      },
      releaseHolds: async (r) => {
        record('releaseHolds', r);
        this.maybeFail('releaseHolds');
        return r.holds.map((h) => h.reservationId);
      },
      debitWallet: async (p) => {
        record('debitWallet', p);
        this.maybeFail('debitWallet');
        return this.takeOnce(this.debited, p.paymentId);
      },
      purchase: async (p) => {
        record('purchase', p);
        const sold = this.soldUnseen;
        if (sold && sold.paymentId !== p.paymentId && seatsOf(p).some((id) => sold.reservationIds.includes(id))) {
          throw ApplicationFailure.create({ type: 'RESERVATION_NOT_PAYABLE', message: 'the reservation is CONFIRMED', nonRetryable: true });
        }
        // 'lost': the purchase commits, then its answer is lost and the step gives up (as when every
        // retry within its schedule-to-close timeout found the database unreachable).
        const lost = this.failures.purchase?.[0] === 'lost' ? this.failures.purchase.shift() : undefined;
        if (!lost) this.maybeFail('purchase');
        const taken = this.takeOnce(this.purchased, p.paymentId);
        if (lost) throw ApplicationFailure.create({ type: 'ANSWER_LOST', message: 'purchase: the answer was lost after the commit', nonRetryable: true });
        return taken;
      },
      saleOf: async (p) => {
        record('saleOf', p);
        const sold = this.soldUnseen;
        if (!sold || !seatsOf(p).some((id) => sold.reservationIds.includes(id))) return null;
        return { paymentId: sold.paymentId, reservationId: sold.reservationIds[0], reservationIds: sold.reservationIds, amount: this.price, balance: this.balance, status: 'COMPLETED' as const };
      },
      confirmPayment: async (p) => {
        record('confirmPayment', p);
        this.maybeFail('confirmPayment');
      },
      refundPayment: async (p): Promise<RefundOutcome> => {
        record('refundPayment', p);
        this.maybeFail('refundPayment');
        if (this.purchased.has(p.paymentId)) return 'ALREADY_COMPLETED';
        if (!this.debited.has(p.paymentId)) return 'NOTHING_DEBITED';
        if (!this.refunded.has(p.paymentId)) {
          this.refunded.add(p.paymentId);
          this.balance += this.price;
        }
        return 'REFUNDED';
      },
      endSession: async (s) => {
        record('endSession', s);
      },
      endIfNoShow: async (s) => {
        record('endIfNoShow', s);
        this.maybeFail('endIfNoShow');
        return this.noShow;
      },
    };
  }
}
