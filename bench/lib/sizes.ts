/**
 * How big each scenario is. The defaults are issue 15's scale where a 30-minute run allows it;
 * `--smoke` makes every scenario tiny (the harness's own test in `npm test`: each scenario must still
 * produce its figures, nothing more); `--rush-*` and `--expiry-holds` move one knob.
 */
export interface RushSize {
  /** Fans arriving over `seconds`: the offered arrival rate is users ÷ seconds. */
  users: number;
  seconds: number;
  /** After the last arrival, fans go on polling and booking this long; then nothing new is sent. */
  tailSeconds: number;
  /** Load generator processes (each takes every n-th fan). */
  generators: number;
  /** Seats of the rush's one schedule. */
  seats: number;
}

export interface Sizes {
  /** Seconds of load before a measured window (JIT, pools), not recorded. */
  warmupS: number;
  /** Pause between scenarios, so one's after-effects (GC, pending tasks) do not land in the next. */
  settleMs: number;
  redisRequests: number;
  /** Live raw workflows the raw update and pay loads are spread over. */
  rawSessions: number;
  joinUsers: number;
  /** Fans waiting in the `status` queue, and the real ones among them that poll. */
  statusQueue: number;
  statusFans: number;
  /** The admitted fans shared by seats, hold, contested-seat and pay. */
  poolFans: number;
  /** contested-seat's burst is at most this many fans (all the pool can spare) and at least `minContenders`. */
  maxContenders: number;
  minContenders: number;
  rush: RushSize;
  /** sell-out: a rush for few seats, each admitted fan ordering between `seatsPerOrder.min` and `.max` seats. */
  sellOut: RushSize & { seatsPerOrder: { min: number; max: number } };
  /** mass-expiry: holds due at one instant (4 per fan); the raw timers ceiling fires one timer per fan. */
  expiryHolds: number;
  /** refund-sweep: paid tickets of the show that is called off. */
  refundTickets: number;
  /** abuse-loop: honest fans holding every 5 s, and scripted fans looping hold/cancel beside them. */
  abuseHonestFans: number;
  abuseLoopers: number;
}

export const FULL: Sizes = {
  warmupS: 2,
  settleMs: 2_000,
  redisRequests: 200_000,
  rawSessions: 200,
  joinUsers: 2_000,
  statusQueue: 300_000,
  statusFans: 300,
  poolFans: 1_200,
  maxContenders: 1_000,
  minContenders: 200,
  rush: { users: 300_000, seconds: 60, tailSeconds: 60, generators: 1, seats: 30_000 },
  // The tail leaves time for the back of the queue to poll once more after the sell-out (Retry-After ≤ 300 s, usually far less).
  sellOut: { users: 300_000, seconds: 60, tailSeconds: 360, generators: 1, seats: 5_000, seatsPerOrder: { min: 1, max: 4 } },
  expiryHolds: 10_000,
  refundTickets: 30_000,
  // 60 honest fans ask for about a third of the journey updates the box serves (24/s), so "alone" is
  // a working service, not one already saturated (200 filled the box by themselves).
  abuseHonestFans: 60,
  abuseLoopers: 50,
};

export const SMOKE: Sizes = {
  warmupS: 0,
  settleMs: 100,
  redisRequests: 5_000,
  rawSessions: 10,
  joinUsers: 50,
  statusQueue: 2_000,
  statusFans: 10,
  poolFans: 30,
  maxContenders: 20,
  minContenders: 5,
  rush: { users: 400, seconds: 2, tailSeconds: 3, generators: 1, seats: 200 },
  sellOut: { users: 200, seconds: 1, tailSeconds: 7, generators: 1, seats: 8, seatsPerOrder: { min: 1, max: 4 } },
  expiryHolds: 40,
  refundTickets: 200,
  abuseHonestFans: 10,
  abuseLoopers: 5,
};
