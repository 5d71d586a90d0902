import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { log } from '@temporalio/activity';
import type Redis from 'ioredis';
import { LatencyWindow } from '../queue/latency-window';
import { WaitingRoom } from '../queue/waiting-room';
import { journeyStartOptions } from '../lib/journeys';
import { journeyInput, type JourneySettings, type ServiceHealth } from '../workflows/definitions';

export interface AdmissionDeps {
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
}

export interface AdmitResult {
  admitted: number;
  waiting: number;
  active: number;
  health?: ServiceHealth;
}

/** How many journey starts are in flight at once: the server's sweet spot on a small box (TOOLCHAIN). */
const START_CONCURRENCY = 16;

export function createAdmissionActivities({ redis, temporal, taskQueue, journey }: AdmissionDeps) {
  const room = new WaitingRoom(redis);
  const latency = new LatencyWindow(redis);

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
      return { admitted: tick.admitted.length, waiting: tick.waiting, active: tick.active, ...(health && { health }) };
    },
  };
}

export type AdmissionActivities = ReturnType<typeof createAdmissionActivities>;
