/** What the rush scenario and its load generator processes tell each other, and how a generator records. */

/** One request kind of a fan's path through the rush. */
export const OPS = ['join', 'poll', 'seats', 'hold', 'pay'] as const;
export type Op = (typeof OPS)[number];

export interface GeneratorTask {
  apiUrl: string;
  concertId: string;
  scheduleId: string;
  /** This generator's fans; `userIds[j]` is arrival number `offset + j × stride` of the whole rush. */
  userIds: string[];
  offset: number;
  stride: number;
  /** Of the whole rush (all generators together). */
  arrivalsPerSecond: number;
  /** Fans go on polling and booking until this many seconds after the start; then nothing new is sent. */
  stopAfterSeconds: number;
  /** After the stop, requests already on the wire get this long to answer; then they are aborted. */
  drainSeconds: number;
  authSecret: string;
  accessTokenTtlSeconds: number;
  pollBudgetPerSecond: number;
  /** Connections of the waiting room's traffic (join, poll) and of admitted fans' booking. */
  connections: { waiting: number; booking: number };
  /**
   * Seats each admitted fan orders, uniform in [min, max] (default: one, the rush's fan). Several are
   * paid as one order (`reservationIds`) where the API takes it, else one payment per reservation
   * (the generator tells which from the first order's answer).
   */
  seatsPerOrder?: { min: number; max: number };
  /** A fan who ends without a purchase leaves (`DELETE /queue-tokens/current`), freeing the place at once (default: the tab is closed and the window runs out). */
  leaveWhenDone?: boolean;
}

/** The outcome of a request whose turn came but that was still waiting for a connection when the run ended. */
export const UNSENT = 'unsent at the end';
/** The outcome of a request still unanswered when the drain after the run ended. */
export const ABORTED = 'aborted at the end';

export type ToGenerator = { type: 'setup'; task: GeneratorTask } | { type: 'go'; startAt: number };

/** One second of the generator itself. */
export interface GeneratorSecond {
  /** % of one core this process used. */
  cpu: number;
  /** p99 of its event loop's delay (ms): a generator that falls behind shows it here first. */
  loopDelayP99: number;
  /** Requests waiting for a connection of the generator (not yet on the wire), and on the wire. */
  queued: number;
  inFlight: number;
  rssMb: number;
}

export interface OpSamples {
  /** Seconds since the start: when the request was due (arrival, Retry-After), sent, answered. */
  due: Float32Array;
  sent: Float32Array;
  done: Float32Array;
  /** HTTP status, or 0: no answer (connection error, aborted at the end). */
  status: Uint16Array;
}

export interface GeneratorResult {
  samples: Record<Op, OpSamples>;
  /** Answers by op and outcome ("200", "409 SEAT_UNAVAILABLE", "ECONNRESET", "unsent at the end"). */
  outcomes: Record<Op, Record<string, number>>;
  /** Seconds since the start at which each admitted fan first read ACTIVE. */
  admittedAt: Float32Array;
  /** How each fan's story ended ("paid", "still waiting at the end", …). */
  endings: Record<string, number>;
  seconds: GeneratorSecond[];
  /** Seconds since the start at which each fan learned the show sold out (a poll read SOLD_OUT, or a join answered 409 SOLD_OUT). */
  soldOutAt: Float32Array;
  /** How this generator's fans paid: orders of several seats, or one payment per reservation (an API without orders). */
  payments: { shape: 'order' | 'per-reservation' | 'unknown'; orders: number; seatsPaid: number };
}

export type FromGenerator = { type: 'ready' } | { type: 'done'; result: GeneratorResult };

/** Appends one op's samples into typed arrays that grow by doubling. */
export class SampleLog {
  private size = 0;
  private due = new Float32Array(1024);
  private sent = new Float32Array(1024);
  private done = new Float32Array(1024);
  private status = new Uint16Array(1024);

  add(due: number, sent: number, done: number, status: number): void {
    if (this.size === this.due.length) {
      const grow = <T extends Float32Array | Uint16Array>(a: T): T => {
        const bigger = new (a.constructor as new (n: number) => T)(a.length * 2);
        bigger.set(a);
        return bigger;
      };
      this.due = grow(this.due);
      this.sent = grow(this.sent);
      this.done = grow(this.done);
      this.status = grow(this.status);
    }
    this.due[this.size] = due;
    this.sent[this.size] = sent;
    this.done[this.size] = done;
    this.status[this.size++] = status;
  }

  samples(): OpSamples {
    const n = this.size;
    return { due: this.due.slice(0, n), sent: this.sent.slice(0, n), done: this.done.slice(0, n), status: this.status.slice(0, n) };
  }
}
