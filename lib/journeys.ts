import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
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
  type AdmissionInput,
  type HoldRequest,
  type JourneyInput,
  type JourneySettings,
  type PayRequest,
  type QueueSettings,
} from '../workflows/definitions';
import type { Config } from './config';

/**
 * True when an update could not reach the journey because it has closed: not found, or admitted just
 * as the workflow completed (the server then aborts the update).
 */
export function journeyClosed(err: unknown): boolean {
  if (err instanceof WorkflowNotFoundError) return true;
  return /update was aborted|workflow execution already completed/i.test(String((err as Error | null)?.message ?? ''));
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

  constructor(
    private readonly client: Client,
    private readonly config: Config,
  ) {
    this.settings = {
      holdTtlSeconds: config.HOLD_TTL_SECONDS,
      holdGraceSeconds: config.HOLD_GRACE_SECONDS,
      maxHolds: config.MAX_HOLDS_PER_FAN,
    };
  }

  static idOf(ticket: QueueTicket): string {
    return journeyWorkflowId(ticket.concertId, ticket.userId, ticket.arrival);
  }

  /** The journey of an admitted fan, started here if the controller's start has not landed yet. */
  private startOperation(ticket: QueueTicket) {
    const input = journeyInput({ ...ticket, activeUntil: ticket.activeUntil ?? 0 }, this.settings);
    return new WithStartWorkflowOperation('fanJourney', journeyStartOptions(input, this.config.TEMPORAL_TASK_QUEUE));
  }

  hold(ticket: QueueTicket, request: HoldRequest) {
    return this.client.workflow.executeUpdateWithStart(holdUpdate, { args: [request], startWorkflowOperation: this.startOperation(ticket) });
  }

  leave(ticket: QueueTicket) {
    return this.client.workflow.executeUpdateWithStart(leaveUpdate, { args: [], startWorkflowOperation: this.startOperation(ticket) });
  }

  pay(journeyId: string, request: PayRequest) {
    return this.client.workflow.getHandle(journeyId).executeUpdate(payUpdate, { args: [request] });
  }

  cancel(journeyId: string, reservationId: string) {
    return this.client.workflow.getHandle(journeyId).executeUpdate(cancelUpdate, { args: [{ reservationId }] });
  }

  // --- Admission controller ---------------------------------------------------------------------
  /** Starts the concert's controller unless it runs already (idempotent: workflow id per concert). */
  async ensureAdmission(concertId: string): Promise<void> {
    const input: AdmissionInput = {
      concertId,
      settings: { admitPerSecond: this.config.QUEUE_ADMIT_PER_SECOND, maxActive: this.config.QUEUE_MAX_ACTIVE, paused: false },
      activeTtlSeconds: this.config.ACTIVE_TOKEN_TTL_SECONDS,
      tickMs: this.config.ADMISSION_TICK_MS,
    };
    await this.client.workflow.start('admissionController', {
      workflowId: admissionWorkflowId(concertId),
      taskQueue: this.config.TEMPORAL_TASK_QUEUE,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: [{ key: searchAttributes.concertId, value: concertId }],
    });
  }

  queueState(concertId: string) {
    return this.client.workflow.getHandle(admissionWorkflowId(concertId)).query(queueStateQuery);
  }

  updateQueue(concertId: string, patch: Partial<QueueSettings>) {
    return this.client.workflow.getHandle(admissionWorkflowId(concertId)).executeUpdate(queueSettingsUpdate, { args: [patch] });
  }
}
