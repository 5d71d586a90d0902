/**
 * Data shared by the product scenarios, made once on first need: the booking concert and a pool of
 * admitted fans with charged wallets. Admission is what takes time (each admitted fan's journey is a
 * workflow start), so every booking scenario draws on the same pool: seats reads, holds spread
 * round-robin (≤ 4 per fan), one contested seat, and payments (one per fan: a payment ends the fan's
 * session). The pool's admission itself is measured (the `admission` scenario reports it).
 */
import { QUIET_TIMEOUT_MS, quietTemporal, withCpu } from './cpu';
import type { Api, User } from './api';
import { mapLimit } from './load';
import { sleep } from './proc';
import type { Sizes } from './sizes';
import { BENCH, type Stack } from './stack';
import { percentile, type Measurement } from './stats';
import { mintUsers, signAccessToken } from './users';

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
  /** How the pool was admitted: journeys started per second once the queue opened. */
  admission?: Measurement;

  constructor(
    private readonly api: Api,
    private readonly stack: Stack,
    private readonly sizes: Sizes,
  ) {}

  /** Users with wallets holding `balance`, minted in SQL with signed tokens (bench/lib/users.ts). */
  async mintFans(count: number, namePrefix: string, balance: number): Promise<User[]> {
    const ids = await mintUsers(await this.stack.db(), count, namePrefix, balance);
    const now = Math.floor(Date.now() / 1000);
    return ids.map((userId) => ({ userId, accessToken: signAccessToken(userId, BENCH.authSecret, 24 * 3600, now) }));
  }

  booking(): Promise<Booking> {
    this.bookingP ??= (async () => {
      const { concertId, scheduleIds } = await this.api.createConcert('Bench: booking', [
        { seatCount: 1_000, price: SEAT_PRICE },
        { seatCount: 20_000, price: SEAT_PRICE },
        { seatCount: 10, price: SEAT_PRICE },
      ]);
      const [seatsScheduleId, holdsScheduleId, contestedScheduleId] = scheduleIds;
      await this.stack.analyze();
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
    const size = this.sizes.poolFans;
    console.log(`[bench]   admitting a pool of ${size} fans (join a paused queue, open it, wait for ACTIVE and their journeys)…`);
    // Paused while the fans join, so admission is measured on its own once the queue opens.
    await this.api.setQueue(concertId, { paused: true });
    const users = await this.mintFans(size, 'bench-fan-', WALLET_CHARGE);
    const fans = await mapLimit(users, SETUP_CONCURRENCY, async (user) => {
      const { token } = await this.api.join(user, concertId);
      return { ...user, queueToken: token, holds: [], paid: false } as Fan;
    });
    const { result: opened, cpu, window } = await withCpu(async () => {
      const at = Date.now();
      await this.api.setQueue(concertId, { paused: false });
      await this.waitActive(fans);
      await this.waitJourneys(concertId, fans.length);
      return at;
    });
    this.admission = { ...(await this.journeyStarts(concertId, opened)), cpu, window };
    console.log(`[bench]   pool admitted in ${(this.admission.durationS).toFixed(1)} s`);
    await this.stack.analyze();
    const quiet = await quietTemporal();
    console.log(`[bench]   ${quiet === undefined ? `Temporal and the worker still busy after ${QUIET_TIMEOUT_MS / 1000} s` : `Temporal and the worker quiet after ${(quiet / 1000).toFixed(1)} s`}`);
    return fans;
  }

  /** From the queue's opening to each journey's start (visibility's start times): the admission rate and delays. */
  private async journeyStarts(concertId: string, opened: number): Promise<Measurement> {
    const client = await this.stack.temporal();
    const delays: number[] = [];
    for await (const w of client.workflow.list({ query: `WorkflowType = 'fanJourney' AND ConcertId = '${concertId}'` })) {
      delays.push(w.startTime.getTime() - opened);
    }
    delays.sort((a, b) => a - b);
    const seconds = Math.max(delays[delays.length - 1], 1) / 1000;
    return {
      name: 'admission',
      concurrency: 'controller',
      requests: delays.length,
      durationS: seconds,
      rate: delays.length / seconds,
      p50: percentile(delays, 50),
      p95: percentile(delays, 95),
      p99: percentile(delays, 99),
      errors: 0,
      statuses: {},
      notes: [],
    };
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
