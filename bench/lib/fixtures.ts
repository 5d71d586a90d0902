/**
 * Data shared by the product scenarios, made once on first need (never measured): the booking
 * concert and a pool of admitted fans with charged wallets. Admission is what takes time (the
 * controller admits 500/s and each admitted fan's journey is a workflow start), so every booking
 * scenario draws on the same pool: seats reads, holds spread round-robin (≤ 4 per fan), one
 * contested seat, and payments (one per fan: a payment ends the fan's session).
 */
import type { Api, User } from './api';
import { mapLimit } from './load';
import { sleep } from './proc';
import type { Stack } from './stack';

export const POOL_SIZE = 1_200;
export const SEAT_PRICE = 50_000;
export const WALLET_CHARGE = 1_000_000;
const SETUP_CONCURRENCY = 20;

export interface Fan extends User {
  queueToken: string;
  /** Live holds (reservation ids), oldest first. */
  holds: string[];
  /** Paid: the session is over, the fan can no longer book. */
  paid: boolean;
}

export interface Booking {
  concertId: string;
  /** 1,000 seats: the seat-map read. */
  seatsScheduleId: string;
  /** 20,000 seats: distinct seats for holds and payments. */
  holdsScheduleId: string;
  /** 10 seats: the contested seat is number 1. */
  contestedScheduleId: string;
}

export class Fixtures {
  private bookingP?: Promise<Booking>;
  private fansP?: Promise<Fan[]>;
  private seat = 0;

  constructor(
    private readonly api: Api,
    private readonly stack: Stack,
  ) {}

  booking(): Promise<Booking> {
    this.bookingP ??= (async () => {
      const { concertId, scheduleIds } = await this.api.createConcert('Bench: booking', [
        { seatCount: 1_000, price: SEAT_PRICE },
        { seatCount: 20_000, price: SEAT_PRICE },
        { seatCount: 10, price: SEAT_PRICE },
      ]);
      const [seatsScheduleId, holdsScheduleId, contestedScheduleId] = scheduleIds;
      return { concertId, seatsScheduleId, holdsScheduleId, contestedScheduleId };
    })();
    return this.bookingP;
  }

  /** The next never-held seat of the holds schedule. */
  nextSeat(): number {
    return ++this.seat;
  }

  /** Fans who can still book (not paid), admitted and with money. */
  async fans(): Promise<Fan[]> {
    this.fansP ??= this.admitPool();
    return (await this.fansP).filter((f) => !f.paid);
  }

  private async admitPool(): Promise<Fan[]> {
    const { concertId } = await this.booking();
    const started = Date.now();
    console.log(`[bench]   admitting a pool of ${POOL_SIZE} fans (users, wallets, join, wait for ACTIVE and their journeys)…`);
    const fans = await mapLimit(Array.from({ length: POOL_SIZE }), SETUP_CONCURRENCY, async (_, i) => {
      const user = await this.api.createUser(`bench-fan-${i}`);
      await this.api.must(201, 'POST', '/wallet/charges', { user, body: { amount: WALLET_CHARGE } });
      const { token } = await this.api.join(user, concertId);
      return { ...user, queueToken: token, holds: [], paid: false } as Fan;
    });
    await this.waitActive(fans);
    await this.waitJourneys(concertId, fans.length);
    console.log(`[bench]   pool admitted in ${Math.round((Date.now() - started) / 1000)} s`);
    await sleep(2_000); // let the last journeys' first tasks settle
    return fans;
  }

  /** Polls each fan's token, as a client does, until every one is ACTIVE. */
  async waitActive(fans: Array<User & { queueToken: string }>, timeoutMs = 300_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let waiting = fans;
    while (waiting.length) {
      if (Date.now() > deadline) throw new Error(`${waiting.length} fans still not admitted after ${timeoutMs / 1000} s`);
      const statuses = await mapLimit(waiting, SETUP_CONCURRENCY, (f) =>
        this.api.must(200, 'GET', '/queue-tokens/current', { user: f, queueToken: f.queueToken }).then((b) => b.status as string),
      );
      const bad = statuses.find((s) => s !== 'ACTIVE' && s !== 'WAITING');
      if (bad) throw new Error(`a pool fan's token is ${bad}`);
      waiting = waiting.filter((_, i) => statuses[i] !== 'ACTIVE');
      if (waiting.length) await sleep(500);
    }
  }

  /** Admission puts fans in the active set first and starts their journeys next: wait for the starts. */
  private async waitJourneys(concertId: string, expected: number, timeoutMs = 300_000): Promise<void> {
    const client = await this.stack.temporal();
    const query = `WorkflowType = 'fanJourney' AND ConcertId = '${concertId}'`;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { count } = await client.workflow.count(query);
      if (count >= expected) return;
      if (Date.now() > deadline) throw new Error(`only ${count} of ${expected} journeys started after ${timeoutMs / 1000} s`);
      await sleep(500);
    }
  }

  /** Fans that hold at least one seat, fewest holds first (a payment also releases the fan's other holds). */
  async fansWithHolds(): Promise<Fan[]> {
    return (await this.fans()).filter((f) => f.holds.length > 0).sort((a, b) => a.holds.length - b.holds.length);
  }
}
