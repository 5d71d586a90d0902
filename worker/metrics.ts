import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory, PrometheusMetricsExporter } from '@temporalio/worker';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AdmitRequest, AdmitResult } from '../activities/admission';
import type { AdmissionHeldReason, SeatsLeft } from '../workflows/definitions';

/** The latency buckets shared by our histograms and the SDK's (seconds): 1 ms … 10 s. */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const HOLD_OUTCOMES = ['started', 'refused', 'released', 'expired'] as const;
export const PAYMENT_OUTCOMES = ['completed', 'failed', 'refunded'] as const;

export interface WorkerMetricsOptions {
  /**
   * A concert's queue gauges come from the admission ticks this worker ran. Ticks land on any
   * replica, so a worker drops a concert's gauges once it has not run one of its ticks for this
   * long (a concert that is gone, or served by another replica): dashboards take the max over the
   * replicas, and a stale value never wins.
   */
  queueGaugesFreshForMs?: number;
  /** Process/Node.js default metrics (off in tests that want a small registry). Default true. */
  defaultMetrics?: boolean;
  now?: () => number;
}

interface QueueSample {
  waiting: number;
  active: number;
  admitPerSecond: number;
  maxActive: number;
  paused: boolean;
  adaptive: boolean;
  /** Counted by inventory-aware ticks only. */
  seatsLeft?: SeatsLeft;
  admissionHeld?: AdmissionHeldReason;
  soldOut: boolean;
  at: number;
}

/** Every reason's series exists for a concert (0 or 1), so a panel shows when one ends, not just when it starts. */
const ADMISSION_HELD_REASONS: AdmissionHeldReason[] = ['PAUSED_BY_OPERATOR', 'ALL_SEATS_HELD', 'ADMITTED_UP_TO_SEATS_LEFT'];

/**
 * The worker's Prometheus metrics, on a registry of its own: the domain events seen by the activity
 * interceptor (holds, payments, admissions, queue gauges) and every activity's duration. The SDK's
 * own worker metrics (task latencies, slots) come from its runtime exporter (`sdkPrometheusExporter`).
 */
export function createWorkerMetrics(options: WorkerMetricsOptions = {}) {
  const freshForMs = options.queueGaugesFreshForMs ?? 30_000;
  const now = options.now ?? Date.now;
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const queues = new Map<string, QueueSample>();
  /** The fresh samples, forgetting the stale ones (collected on each scrape). */
  const freshQueues = (): Array<[string, QueueSample]> => {
    const cutoff = now() - freshForMs;
    for (const [concert, sample] of queues) if (sample.at < cutoff) queues.delete(concert);
    return [...queues];
  };
  /** A per-concert gauge; a concert whose sample has no value (undefined) has no series. */
  const queueGauge = (name: string, help: string, value: (s: QueueSample) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['concert'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [concert, sample] of freshQueues()) {
          const v = value(sample);
          if (v !== undefined) this.set({ concert }, v);
        }
      },
    });

  const admissions = new Counter({
    name: 'ovation_admissions_total',
    help: 'Fans admitted from the waiting queue, by concert',
    labelNames: ['concert'] as const,
    registers: [registry],
  });

  const eagerStarts = new Counter({
    name: 'ovation_admission_eager_starts_total',
    help: 'Admitted fans whose journey the server started eagerly, handing its first workflow task straight to this worker (the rest of ovation_admissions_total went through matching), by concert',
    labelNames: ['concert'] as const,
    registers: [registry],
  });

  const leaversDropped = new Counter({
    name: 'ovation_queue_leavers_dropped_total',
    help: 'Waiting fans who stopped polling for longer than QUEUE_POSITION_TTL_SECONDS and lost their place when the head reached them, by concert',
    labelNames: ['concert'] as const,
    registers: [registry],
  });
  const noShows = new Counter({
    name: 'ovation_queue_no_shows_total',
    help: 'Admitted fans who made no request within NO_SHOW_SECONDS: their window went to the next fan, by concert',
    labelNames: ['concert'] as const,
    registers: [registry],
  });

  const holds = new Counter({
    name: 'ovation_journey_holds_total',
    help: 'Seat holds in the fan journeys: started, refused (seat unavailable), released (cancelled, or freed by a payment), expired',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const payments = new Counter({
    name: 'ovation_journey_payments_total',
    help: 'Payment sagas in the fan journeys: completed, failed (compensated), refunded (failed after the debit: money given back)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  // Every outcome's series exists from the start at 0, so rate() sees the first event too.
  for (const outcome of HOLD_OUTCOMES) holds.inc({ outcome }, 0);
  for (const outcome of PAYMENT_OUTCOMES) payments.inc({ outcome }, 0);

  return {
    registry,
    activityDuration: new Histogram({
      name: 'ovation_activity_duration_seconds',
      help: 'Activity executions (local ones included) by type and outcome: success, a business refusal code, or error',
      labelNames: ['activity_type', 'local', 'outcome'] as const,
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    }),
    admissions,
    leaversDropped,
    noShows,
    holds,
    payments,
    queueWaiting: queueGauge('ovation_queue_waiting', 'Fans waiting in the concert queue, as of the last admission tick', (s) => s.waiting),
    queueActive: queueGauge('ovation_queue_active', 'Admitted fans whose window is open, as of the last admission tick', (s) => s.active),
    queueAdmitPerSecond: queueGauge(
      'ovation_queue_admit_per_second',
      'The admission rate the concert controller runs at (the operator’s setting, or the adaptive valve’s choice within its bounds)',
      (s) => s.admitPerSecond,
    ),
    queueAdaptive: queueGauge('ovation_queue_adaptive', '1 while the adaptive valve steers the concert’s admission rate', (s) => (s.adaptive ? 1 : 0)),
    queueMaxActive: queueGauge('ovation_queue_max_active', 'The most admitted fans the concert may have at once (operator setting)', (s) => s.maxActive),
    queuePaused: queueGauge('ovation_queue_paused', '1 while the concert admissions are paused', (s) => (s.paused ? 1 : 0)),
    queueSeatsBookable: queueGauge(
      'ovation_queue_seats_bookable',
      'Seats of the concert a fan can hold now (available, or held past deadline + grace), as of the last admission tick',
      (s) => s.seatsLeft?.bookable,
    ),
    queueSeatsHeld: queueGauge('ovation_queue_seats_held', 'Seats of the concert under a live hold, as of the last admission tick', (s) => s.seatsLeft?.held),
    queueSoldOut: queueGauge('ovation_queue_sold_out', '1 once every seat of the concert is sold and its queue closed as SOLD_OUT', (s) => (s.soldOut ? 1 : 0)),
    queueAdmissionHeld: new Gauge({
      name: 'ovation_queue_admission_held',
      help: '1 for the reason fans wait although the queue is open (PAUSED_BY_OPERATOR, ALL_SEATS_HELD, ADMITTED_UP_TO_SEATS_LEFT), 0 for the others',
      labelNames: ['concert', 'reason'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [concert, sample] of freshQueues()) {
          for (const reason of ADMISSION_HELD_REASONS) this.set({ concert, reason }, sample.admissionHeld === reason ? 1 : 0);
        }
      },
    }),
    /** Records one admission tick (the admitFans activity's input and result). */
    recordAdmissionTick(request: AdmitRequest, result: AdmitResult): void {
      // Incremented by 0 too, so a concert's series exists from its first tick.
      admissions.inc({ concert: request.concertId }, result.admitted);
      eagerStarts.inc({ concert: request.concertId }, result.startedEagerly ?? 0);
      leaversDropped.inc({ concert: request.concertId }, result.dropped ?? 0);
      // A paused queue's tick counts the seats only now and then: the last count stands.
      const seatsLeft = result.seatsLeft ?? queues.get(request.concertId)?.seatsLeft;
      queues.set(request.concertId, {
        waiting: result.waiting,
        active: result.active,
        admitPerSecond: request.admitPerSecond,
        maxActive: request.maxActive,
        paused: request.paused,
        adaptive: request.adaptive ?? false,
        ...(seatsLeft && { seatsLeft }),
        ...(result.admissionHeld && { admissionHeld: result.admissionHeld }),
        soldOut: result.soldOut === true,
        at: now(),
      });
    },
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** A failure's outcome label: the business code of a refusal (bounded: the DomainError codes), else `error`. */
function failureOutcome(err: unknown): string {
  return err instanceof ApplicationFailure && err.type ? err.type : 'error';
}

/**
 * Counts the journey's and the controller's domain events from the activities' inputs and results,
 * without touching activity code. Sees local activities too (they run through the same inbound
 * interceptors). Counts are per execution: a step retried after a lost completion counts again.
 */
export function metricsInterceptor(metrics: WorkerMetrics): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const { activityType, isLocal } = ctx.info;
        const stop = metrics.activityDuration.startTimer({ activity_type: activityType, local: String(isLocal) });
        let result: unknown;
        try {
          result = await next(input);
        } catch (err) {
          stop({ outcome: failureOutcome(err) });
          if (activityType === 'holdSeat' && failureOutcome(err) === 'SEAT_UNAVAILABLE') metrics.holds.inc({ outcome: 'refused' });
          throw err;
        }
        stop({ outcome: 'success' });
        countSuccess(metrics, activityType, input.args[0], result);
        return result;
      },
    },
  });
}

function countSuccess(metrics: WorkerMetrics, activityType: string, arg: unknown, result: unknown): void {
  switch (activityType) {
    case 'holdSeat':
      metrics.holds.inc({ outcome: 'started' });
      break;
    case 'releaseHold': // one hold (journeys started before the journey-v2 patch)
    case 'releaseHolds': {
      // A batch counts each of its holds.
      const { outcome, holds } = (arg as { outcome?: string; holds?: unknown[] } | undefined) ?? {};
      const count = activityType === 'releaseHolds' ? (holds?.length ?? 0) : 1;
      if (outcome === 'EXPIRED') metrics.holds.inc({ outcome: 'expired' }, count);
      else if (outcome === 'CANCELLED') metrics.holds.inc({ outcome: 'released' }, count);
      break;
    }
    case 'purchase':
    case 'confirmPayment':
      metrics.payments.inc({ outcome: 'completed' });
      break;
    case 'refundPayment':
      // The saga's compensation ran: the payment failed. ALREADY_COMPLETED means the confirm had in
      // fact committed (its answer was lost): the sale stands, and is no failure. (Its confirm counted
      // as completed if a worker saw that execution finish.)
      if (result === 'ALREADY_COMPLETED') break;
      metrics.payments.inc({ outcome: 'failed' });
      if (result === 'REFUNDED') metrics.payments.inc({ outcome: 'refunded' });
      break;
    case 'endIfNoShow':
      if (result === true) metrics.noShows.inc({ concert: (arg as { concertId: string }).concertId });
      break;
    case 'admitFans':
      if (arg && result) metrics.recordAdmissionTick(arg as AdmitRequest, result as AdmitResult);
      break;
  }
}

/**
 * The SDK runtime's Prometheus exporter (Temporal Core's worker metrics: task schedule-to-start and
 * execution latencies, slots, pollers, sticky cache), in seconds with unit suffixes like ours and
 * with finer latency buckets than the SDK's defaults. `worker/main.ts` binds it to localhost and
 * serves it merged into the worker's /metrics.
 */
export function sdkPrometheusExporter(bindAddress: string): PrometheusMetricsExporter {
  const latencies = [
    'workflow_task_schedule_to_start_latency',
    'workflow_task_execution_latency',
    'workflow_task_replay_latency',
    'activity_schedule_to_start_latency',
    'activity_execution_latency',
    'local_activity_execution_latency',
    'request_latency',
  ];
  return {
    prometheus: {
      bindAddress,
      useSecondsForDurations: true,
      unitSuffix: true,
      histogramBucketOverrides: Object.fromEntries(latencies.map((name) => [name, LATENCY_BUCKETS_SECONDS])),
    },
  };
}
