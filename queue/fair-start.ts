import { createHmac, randomBytes } from 'node:crypto';

/**
 * A fair start: fans who join before a concert's sales open are not ordered by who reached the
 * server first (network luck, which is what bots buy) but by a random permutation fixed by a secret
 * seed per concert, which the admin API publishes after the opening so that anyone can recompute the
 * order (`GET /admin/concerts/{id}/queue/seed`).
 *
 * A pre-queued fan's place is `preQueueScore(seed, userId)`: the first 52 bits of
 * HMAC-SHA256(key = the seed's bytes, message = the userId in UTF-8), divided by 2^52, a number in
 * [0, 1) that a double holds exactly. The waiting set sorts ascending by it (ties, never seen in
 * practice, by userId), and every fan who joins after the opening is scored by the arrival number
 * (1, 2, …), so behind every pre-queued fan. Computed once at the join: one write per fan, nothing to
 * do at the opening however many came.
 */
export function preQueueScore(seedHex: string, userId: string): number {
  const mac = createHmac('sha256', Buffer.from(seedHex, 'hex')).update(userId, 'utf8').digest();
  // 52 bits: the 6 first bytes (48 bits) and the high nibble of the 7th.
  const high = mac.readUIntBE(0, 6) * 16 + (mac[6] >> 4);
  return high / 2 ** 52;
}

/** The order the published seed gives to a set of pre-queued fans (what an auditor recomputes). */
export function preQueueOrder(seedHex: string, userIds: Iterable<string>): string[] {
  return [...userIds]
    .map((userId) => ({ userId, score: preQueueScore(seedHex, userId) }))
    .sort((a, b) => a.score - b.score || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0))
    .map((f) => f.userId);
}

/** A new concert's seed: 256 random bits, hex. */
export function newQueueSeed(): string {
  return randomBytes(32).toString('hex');
}

/** What the join needs to know of a concert's opening. */
export interface FairStart {
  /** When the sales open (epoch ms). */
  opensAtMs: number;
  /** The concert's secret seed (hex). */
  seed: string;
}
