import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../db/data-source';
import { CatalogStore } from '../../db/stores/catalog';
import { HoldStore, type HeldSeatRow, type HoldSeatRequest } from '../../db/stores/holds';
import { UserStore } from '../../db/stores/users';
import { WalletStore } from '../../db/stores/wallets';
import { createRedis, redisReady, type Redis } from '../../lib/redis';
import { concertPrefix } from '../../queue/keys';
import { defineQueueScripts } from '../../queue/scripts';

/**
 * Fixtures shared by the integration suites: the real stores on the test database and the real
 * Redis test database, users with wallets, and concerts whose booking window is open now.
 */

export const GRACE_SECONDS = 3;

export async function openDb(poolSize = 40): Promise<DataSource> {
  const db = createDataSource(process.env.DATABASE_URL!, { poolSize, applicationName: 'ovation-integration-test' });
  await db.initialize();
  return db;
}

export async function openRedis(): Promise<Redis> {
  // The integration suites use single-node commands (FLUSHDB, SCAN) beside the scripts: typed as one Redis.
  const redis = defineQueueScripts(createRedis(process.env.REDIS_URL!, process.env.REDIS_CLUSTER_NODES) as Redis);
  await redisReady(redis);
  return redis;
}

/** Removes every key of one concert's queue (they share the `queue:{<concertId>}:` prefix). */
export async function dropConcertKeys(redis: Redis, concertId: string): Promise<void> {
  // The prefix holds `{`/`}`, which are not glob metacharacters; the concert id is a UUID.
  const stream = redis.scanStream({ match: `${concertPrefix(concertId)}*`, count: 5_000 });
  for await (const keys of stream as AsyncIterable<string[]>) {
    if (keys.length) await redis.unlink(...keys);
  }
}

export interface Stores {
  db: DataSource;
  users: UserStore;
  catalog: CatalogStore;
  holds: HoldStore;
  wallets: WalletStore;
}

export function stores(db: DataSource): Stores {
  return { db, users: new UserStore(db), catalog: new CatalogStore(db), holds: new HoldStore(db), wallets: new WalletStore(db) };
}

export async function createUsers(s: Stores, count: number, prefix = 'fan'): Promise<string[]> {
  const ids: string[] = [];
  // Bounded concurrency: the pool has 40 connections.
  for (let i = 0; i < count; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, count - i) }, (_, j) => s.users.create(`${prefix}-${i + j + 1}`)),
    );
    ids.push(...batch.map((u) => u.id));
  }
  return ids;
}

export interface OpenConcert {
  concertId: string;
  scheduleIds: string[];
}

/** A concert whose schedules are bookable now (opened an hour ago, closing in a day). */
export async function createOpenConcert(s: Stores, seatCount: number, price: number, schedules = 1): Promise<OpenConcert> {
  const now = Date.now();
  const created = await s.catalog.createConcert({
    title: `Integration ${randomUUID().slice(0, 8)}`,
    schedules: Array.from({ length: schedules }, (_, i) => ({
      startsAt: new Date(now + (7 + i) * 86_400_000),
      bookingOpensAt: new Date(now - 3_600_000),
      bookingClosesAt: new Date(now + 86_400_000),
      seatCount,
      price,
    })),
  });
  return { concertId: created.concertId, scheduleIds: created.schedules.map((sc) => sc.scheduleId) };
}

/** A deadline `offsetMs` from now, as the journey would pass it (ISO-8601). */
export const deadlineIn = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();

export function holdRequest(
  concert: OpenConcert,
  userId: string,
  seatNumber: number,
  overrides: Partial<HoldSeatRequest> = {},
): HoldSeatRequest {
  const reservationId = overrides.reservationId ?? randomUUID();
  return {
    reservationId,
    userId,
    concertId: concert.concertId,
    scheduleId: concert.scheduleIds[0],
    seatNumber,
    heldUntil: deadlineIn(300_000),
    graceSeconds: GRACE_SECONDS,
    journeyId: `journey-${concert.concertId}-${userId}-1`,
    ...overrides,
  };
}

export async function hold(s: Stores, concert: OpenConcert, userId: string, seatNumber: number, overrides: Partial<HoldSeatRequest> = {}): Promise<HeldSeatRow> {
  return s.holds.hold(holdRequest(concert, userId, seatNumber, overrides));
}

/** Settles a promise into a value-or-error record, so a burst can be counted afterwards. */
export async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

export const codeOf = (err: unknown): string | undefined => (err as { code?: string } | null)?.code;
