import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { log } from '@temporalio/activity';
import type { RedisClient as Redis } from '../lib/redis';
import type { DataSource } from 'typeorm';
import { HoldStore } from '../db/stores/holds';
import { LatencyWindow } from '../queue/latency-window';
import { WaitingRoom } from '../queue/waiting-room';
import { journeyStartOptions } from '../lib/journeys';
import { journeyInput, type JourneySettings, type ServiceHealth } from '../workflows/definitions';

export interface AdmissionDeps {
  db: DataSource;
  redis: Redis;
  temporal: Client;
  taskQueue: string;
  journey: JourneySettings;
}

export interface AdmitRequest {
  concertId: string;
  /** Unique per controller tick: a retried tick admits nobody twice. */
  tickId: string;
  maxBatch: number;
  maxActive: number;
  activeTtlSeconds: number;
  admitPerSecond: number;
  paused: boolean;
  adaptive?: boolean;
  /** Set when the adaptive valve wants the service's latency over this many seconds back. */
  healthWindowSeconds?: number;
  /** When nobody waits: mark the controller asleep (a join wakes it) and say whether booking is over. */
  sleepWhenIdle?: boolean;
  /** Sweep holds past their deadline + grace that no journey released (also done on every idle tick). */
  sweep?: boolean;
}

export interface AdmitResult {
  admitted: number;
  /** Fans at the head who had stopped polling: they lost their place (QUEUE_POSITION_EXPIRED). */
  dropped?: number;
  waiting: number;
  active: number;
  health?: ServiceHealth;
  /** Nobody waits: the controller is marked asleep and a join will wake it. */
  asleep?: boolean;
  /** Nobody waits or is active and booking has closed on every schedule: the controller may end. */
  bookingOver?: boolean;
  /** Holds the sweep expired. */
  swept?: number;
}

/** How many journey starts are in flight at once: the server's sweet spot on a small box (TOOLCHAIN). */
const START_CONCURRENCY = 16;
/** Holds expired per sweep at most: a sweep is a background chore, never a long transaction. */
const SWEEP_LIMIT = 500;

export function createAdmissionActivities({ db, redis, temporal, taskQueue, journey }: AdmissionDeps) {
  const room = new WaitingRoom(redis);
  const latency = new LatencyWindow(redis);
  const holds = new HoldStore(db);

  /** True when booking has closed on every schedule of the concert (or it has none). */
  const bookingOver = async (concertId: string): Promise<boolean> => {
    const [row]: Array<{ open: number }> = await db.query(
      'SELECT count(*)::int AS open FROM concert_schedules WHERE concert_id = $1 AND booking_closes_at > now()',
      [concertId],
    );
    return row.open === 0;
  };

  /**
   * Nobody waits: marks the controller asleep, then looks again, so a fan who joined between the
   * tick and the mark is seen here (the mark is then taken back) or deletes the mark and wakes it.
   */
  const fallAsleep = async (concertId: string): Promise<boolean> => {
    await room.markControllerAsleep(concertId);
    if ((await room.counts(concertId)).waiting === 0) return true;
    await room.wakeController(concertId);
    return false;
  };

  /** Hold and payment p95 as the API instances recorded them (queue/latency-window.ts). */
  const serviceHealth = async (seconds: number): Promise<ServiceHealth> => {
    const [hold, pay] = await Promise.all([latency.p95('hold', seconds), latency.p95('pay', seconds)]);
    return { holdP95Ms: hold.p95Ms, holds: hold.samples, payP95Ms: pay.p95Ms, payments: pay.samples };
  };

  return {
    /**
     * One admission tick: moves fans from the head of the queue to the active set (Redis, atomic,
     * idempotent per tick) and starts each admitted fan's journey. Workflow ids make a retried start
     * a no-op; a fan whose journey is already closed is not started again.
     */
    async admitFans(request: AdmitRequest): Promise<AdmitResult> {
      const tick = await room.admit(request.concertId, {
        tickId: request.tickId,
        maxBatch: request.paused ? 0 : request.maxBatch,
        maxActive: request.maxActive,
        activeTtlMs: request.activeTtlSeconds * 1000,
        admitPerSecond: request.admitPerSecond,
        paused: request.paused,
      });
      const pending = [...tick.admitted];
      const startNext = async (): Promise<void> => {
        for (let fan = pending.shift(); fan; fan = pending.shift()) {
          const input = journeyInput({ ...fan, concertId: request.concertId, activeUntil: tick.activeUntil }, journey);
          try {
            await temporal.workflow.start('fanJourney', journeyStartOptions(input, taskQueue));
          } catch (err) {
            if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
            log.info('journey already closed; not restarted', { userId: fan.userId, arrival: fan.arrival });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(START_CONCURRENCY, pending.length) }, startNext));
      const health = request.healthWindowSeconds ? await serviceHealth(request.healthWindowSeconds) : undefined;
      const idle = request.sleepWhenIdle === true && tick.waiting === 0;
      const swept = request.sweep || idle ? await holds.sweepExpired(request.concertId, journey.holdGraceSeconds, SWEEP_LIMIT) : 0;
      const asleep = idle && (await fallAsleep(request.concertId));
      const over = asleep && tick.active === 0 && (await bookingOver(request.concertId));
      return {
        admitted: tick.admitted.length, waiting: tick.waiting, active: tick.active, ...(tick.dropped > 0 && { dropped: tick.dropped }),
        ...(health && { health }), ...(asleep && { asleep }), ...(over && { bookingOver: over }), ...(swept > 0 && { swept }),
      };
    },
  };
}

export type AdmissionActivities = ReturnType<typeof createAdmissionActivities>;
