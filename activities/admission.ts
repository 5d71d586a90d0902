import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { log } from '@temporalio/activity';
import type { RedisClient as Redis } from '../lib/redis';
import type { DataSource } from 'typeorm';
import { HoldStore } from '../db/stores/holds';
import { LatencyWindow } from '../queue/latency-window';
import { WaitingRoom } from '../queue/waiting-room';
import { journeyStartOptions } from '../lib/journeys';
import { queueKeys } from '../queue/keys';
import { ADMISSION_HELD_FIELD, journeyInput, type AdmissionHeldReason, type JourneySettings, type SeatsLeft, type ServiceHealth } from '../workflows/definitions';

export interface AdmissionDeps {
  db: DataSource;
  redis: Redis;
  temporal: Client;
  taskQueue: string;
  journey: JourneySettings;
  /**
   * Starts the admitted fans' journeys with eager workflow start when given: a client on the
   * worker's own NativeConnection (worker/create-worker.ts), whose worker polls `taskQueue`. Each
   * start then asks the server to hand the journey's first workflow task straight back to this
   * worker, skipping the trip through matching and the worker's poll. Without it, `temporal` starts
   * them the ordinary way (a client on another connection cannot take an eager task: the SDK refuses).
   */
  journeyStarter?: Client;
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
  /**
   * Admitted fans per seat left: when set, the tick counts the seats left to buy, admits no more
   * than they allow, and closes the queue as SOLD_OUT once none is left (controllers since the
   * `admission-sold-out` patch; older ones send none and admit by capacity alone).
   */
  admitPerSeat?: number;
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
  /** Seats left to buy, when the tick counted them (`admitPerSeat` set and a schedule still on sale). */
  seatsLeft?: SeatsLeft;
  /** Why fans still wait although the queue is open; published to their status answers. */
  admissionHeld?: AdmissionHeldReason;
  /** Every seat on sale is sold: the queue is closed with reason SOLD_OUT; the controller may end. */
  soldOut?: boolean;
  /** Of the journeys this tick started, those whose first task the server handed straight to this worker. */
  startedEagerly?: number;
  /**
   * How long the tick took by this worker's clock: the controller times its ticks start to start by
   * it, not by the workflow's clock, which is the server's and which a time-skipping test server
   * moves forward while the activity runs.
   */
  tookMs?: number;
}

/** What a tick may admit given the seats left (pure: activities/admission.ts counts, this decides). */
export interface InventoryPlan {
  /** The active fans the tick may fill up to: the operator's maxActive, or fewer with few seats left. */
  maxActive: number;
  /** No admission at all this tick (every seat left is held, or none is left). */
  admitNone: boolean;
  soldOut: boolean;
}

/**
 * Admission by inventory: at most ceil(seats left × admitPerSeat) fans active at once, where seats
 * left = bookable + held (a held seat is still for sale: it comes back if its hold lapses, and its
 * holder is one of the active fans). Nothing while every seat left is held (a fan admitted then could
 * only watch); sold out when none is left.
 */
export function planByInventory(left: SeatsLeft, maxActive: number, admitPerSeat: number): InventoryPlan {
  const seats = left.bookable + left.held;
  if (seats === 0) return { maxActive: 0, admitNone: true, soldOut: true };
  if (left.bookable === 0) return { maxActive: 0, admitNone: true, soldOut: false };
  return { maxActive: Math.min(maxActive, Math.ceil(seats * admitPerSeat)), admitNone: false, soldOut: false };
}

/** Why fans who wait are not admitted after a tick, if it is the operator's pause or the inventory. */
export function admissionHeldReason(t: { paused: boolean; waiting: number; active: number; maxActive: number; plan?: InventoryPlan; left?: SeatsLeft }): AdmissionHeldReason | undefined {
  if (t.waiting === 0) return undefined;
  if (t.paused) return 'PAUSED_BY_OPERATOR';
  if (!t.plan || !t.left) return undefined;
  if (t.left.bookable === 0 && t.left.held > 0) return 'ALL_SEATS_HELD';
  if (t.plan.maxActive < t.maxActive && t.active >= t.plan.maxActive) return 'ADMITTED_UP_TO_SEATS_LEFT';
  return undefined;
}

/** How many journey starts are in flight at once: the server's sweet spot on a small box (TOOLCHAIN). */
const START_CONCURRENCY = 16;
/** Holds expired per sweep at most: a sweep is a background chore, never a long transaction. */
const SWEEP_LIMIT = 500;

export function createAdmissionActivities({ db, redis, temporal, taskQueue, journey, journeyStarter }: AdmissionDeps) {
  const starter = journeyStarter ?? temporal;
  const eager = journeyStarter !== undefined;
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

  /**
   * Seats left to buy in the concert's schedules still on sale: one query over the unsold seats
   * (an index-only scan of the partial index seats_unsold_by_schedule: its cost follows the seats
   * left, a few ms per 5,000, and falls to nothing as the show sells), whatever the number of fans. Undefined when no
   * schedule is on sale (booking over: the idle path ends the controller then).
   */
  const seatsLeft = async (concertId: string): Promise<SeatsLeft | undefined> => {
    const [row]: Array<{ on_sale: number; bookable: number; held: number }> = await db.query(
      `SELECT (SELECT count(*) FROM concert_schedules WHERE concert_id = $1 AND booking_closes_at > now() AND cancelled_at IS NULL)::int AS on_sale,
              count(*) FILTER (WHERE s.status = 'AVAILABLE' OR s.held_until < now() - make_interval(secs => $2))::int AS bookable,
              count(*) FILTER (WHERE s.status = 'HELD' AND s.held_until >= now() - make_interval(secs => $2))::int AS held
         FROM concert_schedules cs
         JOIN seats s ON s.schedule_id = cs.id AND s.status <> 'SOLD'
        WHERE cs.concert_id = $1 AND cs.booking_closes_at > now() AND cs.cancelled_at IS NULL`,
      [concertId, journey.holdGraceSeconds],
    );
    return row.on_sale === 0 ? undefined : { bookable: row.bookable, held: row.held };
  };

  /**
   * Closes the queue for good as SOLD_OUT (unless it closed already, say CANCELLED): no join from
   * now on, and each waiting fan's next poll reads SOLD_OUT and releases the place (queue/scripts.ts).
   */
  const closeSoldOut = async (concertId: string): Promise<void> => {
    const k = queueKeys(concertId);
    await redis.multi().set(k.closed, 'SOLD_OUT', 'NX').hdel(k.settings, ADMISSION_HELD_FIELD).exec();
  };

  /** Publishes (or clears) why waiting fans are held back, for their status answers. */
  const publishHeldReason = async (concertId: string, reason: AdmissionHeldReason | undefined): Promise<void> => {
    const k = queueKeys(concertId);
    if (reason) await redis.hset(k.settings, ADMISSION_HELD_FIELD, reason);
    else await redis.hdel(k.settings, ADMISSION_HELD_FIELD);
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
      const started = performance.now();
      const inventoryAware = request.admitPerSeat !== undefined;
      // A paused queue admits nobody whatever the seats left: it counts them only on sweep ticks
      // (every 30 s), enough to notice a sell-out by the fans already in, and no steady cost.
      const counting = inventoryAware && (!request.paused || request.sweep === true);
      let left = counting ? await seatsLeft(request.concertId) : undefined;
      let plan = left && planByInventory(left, request.maxActive, request.admitPerSeat!);
      // A retried tick still returns (and starts the journeys of) the fans its first attempt
      // admitted: the script answers a known tick id with the stored batch, whatever maxBatch says.
      const tick = await room.admit(request.concertId, {
        tickId: request.tickId,
        maxBatch: request.paused || plan?.admitNone ? 0 : request.maxBatch,
        maxActive: plan?.maxActive ?? request.maxActive,
        activeTtlMs: request.activeTtlSeconds * 1000,
        admitPerSecond: request.admitPerSecond,
        paused: request.paused,
      });
      const pending = [...tick.admitted];
      let startedEagerly = 0;
      const startNext = async (): Promise<void> => {
        for (let fan = pending.shift(); fan; fan = pending.shift()) {
          const input = journeyInput({ ...fan, concertId: request.concertId, activeUntil: tick.activeUntil }, journey);
          try {
            // Eager when this worker has a free workflow-task slot and the server allows it (the SDK
            // drops the request otherwise, and the start is an ordinary one); a journey already
            // running (USE_EXISTING) or closed (REJECT_DUPLICATE) is never started eagerly or again.
            const started = await starter.workflow.start('fanJourney', { ...journeyStartOptions(input, taskQueue), requestEagerStart: eager });
            if (started.eagerlyStarted) startedEagerly++;
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
      if (inventoryAware && idle && tick.active === 0 && !plan?.soldOut) {
        // About to sleep with nobody to wake it but a join: the last sale may have landed between
        // the count above and the admission (its session ended, so nobody is active). Count again,
        // so a concert that sold out is closed now rather than on the next fan's join.
        left = await seatsLeft(request.concertId);
        plan = left && planByInventory(left, request.maxActive, request.admitPerSeat!);
      }
      if (plan?.soldOut) {
        await closeSoldOut(request.concertId);
        return {
          admitted: tick.admitted.length, waiting: tick.waiting, active: tick.active, seatsLeft: left, soldOut: true, ...(swept > 0 && { swept }),
          ...(startedEagerly > 0 && { startedEagerly }),
        };
      }
      const held = admissionHeldReason({ paused: request.paused, waiting: tick.waiting, active: tick.active, maxActive: request.maxActive, plan, left });
      if (inventoryAware) await publishHeldReason(request.concertId, held);
      const asleep = idle && (await fallAsleep(request.concertId));
      const over = asleep && tick.active === 0 && (await bookingOver(request.concertId));
      return {
        admitted: tick.admitted.length, waiting: tick.waiting, active: tick.active, ...(tick.dropped > 0 && { dropped: tick.dropped }),
        ...(health && { health }), ...(asleep && { asleep }), ...(over && { bookingOver: over }), ...(swept > 0 && { swept }),
        ...(left && { seatsLeft: left }), ...(held && { admissionHeld: held }), ...(startedEagerly > 0 && { startedEagerly }),
        tookMs: Math.round(performance.now() - started),
      };
    },
  };
}

export type AdmissionActivities = ReturnType<typeof createAdmissionActivities>;
