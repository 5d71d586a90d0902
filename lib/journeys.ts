import { WithStartWorkflowOperation, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { LatencyWindow, ServedCall } from '../queue/latency-window';
import type { QueueTicket } from '../queue/waiting-room';
import {
  admissionWorkflowId,
  cancelUpdate,
  holdUpdate,
  journeyInput,
  journeyWorkflowId,
  leaveUpdate,
  payUpdate,
  queueSettingsUpdate,
  queueStateQuery,
  searchAttributes,
  wakeAdmissionSignal,
  type AdmissionInput,
  type HoldRequest,
  type JourneyInput,
  type JourneySettings,
  type PayRequest,
  type QueueSettingsPatch,
} from '../workflows/definitions';
import type { Config } from './config';

/** The settings every journey started under `config` carries (the API's and the admission activity's starts alike). */
export function journeySettings(config: Config): JourneySettings {
  return {
    holdTtlSeconds: config.HOLD_TTL_SECONDS,
    holdGraceSeconds: config.HOLD_GRACE_SECONDS,
    noShowSeconds: config.NO_SHOW_SECONDS,
    maxHolds: config.MAX_HOLDS_PER_FAN,
    maxHoldAttempts: config.JOURNEY_MAX_HOLD_ATTEMPTS,
    maxUpdates: config.JOURNEY_MAX_UPDATES,
  };
}

/**
 * How a fan's journey is started, by the controller's activity or by the API, whichever comes first:
 * conflict policy USE_EXISTING (a second start finds the first), reuse policy REJECT_DUPLICATE (a
 * closed journey is never restarted), and the search attributes operators look it up by.
 */
export function journeyStartOptions(input: JourneyInput, taskQueue: string) {
  return {
    workflowId: journeyWorkflowId(input.concertId, input.userId, input.arrival),
    taskQueue,
    args: [input] as [JourneyInput],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: searchAttributes.userId, value: input.userId },
      { key: searchAttributes.concertId, value: input.concertId },
      { key: searchAttributes.journeyStatus, value: 'ACTIVE' },
    ],
  };
}

/**
 * The client side of the workflows: how the API (and the worker at start-up) reaches a fan's journey
 * and a concert's admission controller. Workflows are started by type name, so no workflow code is
 * loaded here.
 */
export class Journeys {
  private readonly settings: JourneySettings;

  /**
   * @param latency where hold and payment latencies go for the adaptive admission valve (the API
   *   passes one; callers that never hold or pay need not)
   */
  constructor(
    private readonly client: Client,
    private readonly config: Config,
    private readonly latency?: LatencyWindow,
  ) {
    this.settings = journeySettings(config);
  }

  static idOf(ticket: QueueTicket): string {
    return journeyWorkflowId(ticket.concertId, ticket.userId, ticket.arrival);
  }

  /** The journey of an admitted fan, started here if the controller's start has not landed yet. */
  private startOperation(ticket: QueueTicket) {
    const input = journeyInput({ ...ticket, activeUntil: ticket.activeUntil ?? 0 }, this.settings);
    return new WithStartWorkflowOperation('fanJourney', journeyStartOptions(input, this.config.TEMPORAL_TASK_QUEUE));
  }

  /**
   * Times a call for the valve: answers (refusals included, they cost the same round trip) count,
   * failures to reach Temporal do not. Recording never delays or fails the fan's call.
   */
  private async timed<T>(call: ServedCall, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const answered = () => void this.latency?.record(call, performance.now() - started).catch(() => undefined);
    try {
      const result = await run();
      answered();
      return result;
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) answered();
      throw err;
    }
  }

  hold(ticket: QueueTicket, request: HoldRequest) {
    return this.timed('hold', () =>
      this.client.workflow.executeUpdateWithStart(holdUpdate, { args: [request], startWorkflowOperation: this.startOperation(ticket) }),
    );
  }

  leave(ticket: QueueTicket) {
    return this.client.workflow.executeUpdateWithStart(leaveUpdate, { args: [], startWorkflowOperation: this.startOperation(ticket) });
  }

  pay(journeyId: string, request: PayRequest) {
    return this.timed('pay', () => this.client.workflow.getHandle(journeyId).executeUpdate(payUpdate, { args: [request] }));
  }

  cancel(journeyId: string, reservationId: string) {
    return this.client.workflow.getHandle(journeyId).executeUpdate(cancelUpdate, { args: [{ reservationId }] });
  }

  // --- Admission controller ---------------------------------------------------------------------
  private admissionInput(concertId: string): AdmissionInput {
    return {
      concertId,
      settings: {
        admitPerSecond: this.config.QUEUE_ADMIT_PER_SECOND,
        maxActive: this.config.QUEUE_MAX_ACTIVE,
        paused: false,
        adaptive: this.config.QUEUE_ADAPTIVE,
        minAdmitPerSecond: this.config.QUEUE_MIN_ADMIT_PER_SECOND,
        maxAdmitPerSecond: this.config.QUEUE_MAX_ADMIT_PER_SECOND,
        admitPerSeat: this.config.QUEUE_ADMIT_PER_SEAT_FACTOR,
      },
      activeTtlSeconds: this.config.ACTIVE_TOKEN_TTL_SECONDS,
      tickMs: this.config.ADMISSION_TICK_MS,
      latencyTargets: { holdP95Ms: this.config.QUEUE_HOLD_P95_TARGET_MS, payP95Ms: this.config.QUEUE_PAY_P95_TARGET_MS },
      adjustEveryMs: this.config.QUEUE_ADJUST_EVERY_MS,
    };
  }

  private admissionOptions(concertId: string) {
    return {
      workflowId: admissionWorkflowId(concertId),
      taskQueue: this.config.TEMPORAL_TASK_QUEUE,
      args: [this.admissionInput(concertId)] as [AdmissionInput],
      typedSearchAttributes: [{ key: searchAttributes.concertId, value: concertId }],
    };
  }

  /** Starts the concert's controller unless it runs already (idempotent: workflow id per concert). */
  async ensureAdmission(concertId: string): Promise<void> {
    await this.client.workflow.start('admissionController', { ...this.admissionOptions(concertId), workflowIdConflictPolicy: 'USE_EXISTING' });
  }

  /**
   * Wakes the concert's controller, asleep since nobody waited (the join that took its mark in
   * Redis calls this), or starts it again if it had ended: one signal-with-start.
   */
  async wakeAdmission(concertId: string): Promise<void> {
    await this.client.workflow.signalWithStart('admissionController', { ...this.admissionOptions(concertId), signal: wakeAdmissionSignal, signalArgs: [] });
  }

  queueState(concertId: string) {
    return this.client.workflow.getHandle(admissionWorkflowId(concertId)).query(queueStateQuery);
  }

  updateQueue(concertId: string, patch: QueueSettingsPatch) {
    return this.client.workflow.getHandle(admissionWorkflowId(concertId)).executeUpdate(queueSettingsUpdate, { args: [patch] });
  }
}
