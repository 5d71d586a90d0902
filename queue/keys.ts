/**
 * Redis keys of one concert share the hash tag `{<concertId>}`, so every script touches one slot:
 * the same code runs on one Redis or on a Redis Cluster. Every key a script touches is built here by
 * the caller and passed in the script's KEYS (test/unit/queue-scripts.test.ts checks each script's
 * `-- KEYS:` contract), never derived inside a script.
 */
export function concertPrefix(concertId: string): string {
  return `queue:{${concertId}}:`;
}

export const queueKeys = (concertId: string) => {
  const prefix = concertPrefix(concertId);
  return {
    prefix,
    /**
     * Sorted set of waiting user ids. A fan who joined before the sales opened is scored in [0, 1) by
     * HMAC(the concert's seed, userId) (queue/fair-start.ts); a fan who joined after it by the arrival
     * number (1, 2, …): every pre-queued fan sorts before every later arrival.
     */
    waiting: `${prefix}waiting`,
    /** Sorted set of user ids scored by the end of their active window (epoch ms). */
    active: `${prefix}active`,
    /** Arrival counter. */
    seq: `${prefix}seq`,
    /** Admission settings mirrored from the controller (ETAs without a Temporal call), and `opensAt`. */
    settings: `${prefix}settings`,
    /** Set when the concert's queue is closed for good: holds the reason (CANCELLED, later SOLD_OUT). */
    closed: `${prefix}closed`,
    /**
     * Hash of one user's queue session in this concert (one position per user per concert): secret,
     * arrival, status, activeUntil, joinedAt, seenAt (the fan's last request), admittedAt. The API
     * knows the user from the verified access token, so every script names this key itself.
     */
    session: (userId: string) => `${prefix}session:${userId}`,
    /**
     * Hash secret → userId of each user's current session, so that someone else's token is told
     * apart from an unknown one (403 vs 401) in the same script. A user's entry is replaced when the
     * user joins again: one entry per user who ever joined the concert.
     */
    owners: `${prefix}owners`,
    /** One admission tick's outcome, kept so a retried tick admits nobody twice. */
    batch: (tickId: string) => `${prefix}batch:${tickId}`,
    /** Set while the concert's admission controller sleeps (nobody waiting): a join deletes it and wakes the controller. */
    controllerAsleep: `${prefix}controller-asleep`,
    /** The seat gate: holds the reservation id of the only contender let through. */
    seatGate: (scheduleId: string, seatNumber: number) => `${prefix}gate:${scheduleId}:${seatNumber}`,
    /**
     * A fixed-window rate-limit counter of one action (join, poll) for one user or one client address,
     * in the concert's slot so that the join and status scripts count it in the same round trip.
     */
    rateCounter: (action: string, scope: 'user' | 'ip', id: string) => `${prefix}rate:${action}:${scope}:${id}`,
  };
};
