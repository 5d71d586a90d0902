/**
 * Redis keys of one concert share the hash tag `{<concertId>}`, so every script touches one slot:
 * the same code runs on one Redis or on a Redis Cluster.
 */
export function concertPrefix(concertId: string): string {
  return `queue:{${concertId}}:`;
}

export const queueKeys = (concertId: string) => {
  const prefix = concertPrefix(concertId);
  return {
    prefix,
    /** Sorted set of user ids scored by arrival number. */
    waiting: `${prefix}waiting`,
    /** Sorted set of user ids scored by the end of their active window (epoch ms). */
    active: `${prefix}active`,
    /** Arrival counter. */
    seq: `${prefix}seq`,
    /** Admission settings mirrored from the controller, for ETAs without a Temporal call. */
    settings: `${prefix}settings`,
    /** Set when the concert's queue is closed for good: holds the reason (CANCELLED, later SOLD_OUT). */
    closed: `${prefix}closed`,
    /** The user's current token (its secret part). */
    fan: (userId: string) => `${prefix}fan:${userId}`,
    /** Hash of one token: userId, arrival, status, activeUntil. */
    token: (secret: string) => `${prefix}token:${secret}`,
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
