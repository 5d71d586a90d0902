import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError, ApplicationFailure, type Client } from '@temporalio/client';
import {
  afterSaleSearchAttributes,
  refundRateUpdate,
  searchAttributes,
  showCancellationQuery,
  showCancellationWorkflowId,
  ticketCancellationWorkflowId,
  type ShowCancellationInput,
  type ShowCancellationProgress,
  type TicketCancellationInput,
  type TicketCancellationResult,
} from '../workflows/definitions';
import { DomainError } from './domain-error';
import { isErrorCode } from './error-codes';

/**
 * The client side of the after-sale workflows, for the API: a fan's ticket cancellation (one workflow
 * per reservation, started once, found in the UI by the fan's user id) and an operator's show
 * cancellation (one per concert or schedule). Started by type name: no workflow code is loaded here.
 */
export class AfterSale {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  /**
   * Runs the fan's cancellation to its end. A concurrent request for the same ticket joins the running
   * one (USE_EXISTING) and gets the same answer; one after it ended is refused (REJECT_DUPLICATE):
   * 409 TICKET_ALREADY_CANCELLED.
   */
  async cancelTicket(input: TicketCancellationInput & { concertId: string }): Promise<TicketCancellationResult> {
    const { concertId, ...args } = input;
    try {
      return await this.client.workflow.execute('ticketCancellation', {
        workflowId: ticketCancellationWorkflowId(input.reservationId),
        taskQueue: this.taskQueue,
        args: [args],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: searchAttributes.userId, value: input.userId },
          { key: searchAttributes.concertId, value: concertId },
        ],
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw new DomainError('TICKET_ALREADY_CANCELLED', 'this ticket’s cancellation has already run');
      throw refusalOf(err);
    }
  }

  /** Starts the show's cancellation unless it runs or ran already; returns where it stands. */
  async cancelShow(input: ShowCancellationInput): Promise<{ started: boolean }> {
    try {
      await this.client.workflow.start('showCancellation', {
        workflowId: showCancellationWorkflowId(input.concertId, input.scheduleId),
        taskQueue: this.taskQueue,
        args: [input],
        // Refused when it runs or ran (either way the answer is its progress): the operator's retry starts nothing.
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: searchAttributes.concertId, value: input.concertId },
          { key: afterSaleSearchAttributes.cancellationStatus, value: 'CLOSING' },
        ],
      });
      return { started: true };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { started: false };
      throw err;
    }
  }

  /** The cancellation's progress (its query; the final report once it completed), or 404. */
  async showProgress(concertId: string, scheduleId?: string): Promise<ShowCancellationProgress> {
    const handle = this.client.workflow.getHandle(showCancellationWorkflowId(concertId, scheduleId));
    try {
      return await handle.query(showCancellationQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new DomainError('NOT_FOUND', 'no cancellation of this show');
      throw err;
    }
  }

  async setRefundRate(concertId: string, scheduleId: string | undefined, ratePerSecond: number): Promise<ShowCancellationProgress> {
    const handle = this.client.workflow.getHandle(showCancellationWorkflowId(concertId, scheduleId));
    try {
      return await handle.executeUpdate(refundRateUpdate, { args: [{ ratePerSecond }] });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new DomainError('NOT_FOUND', 'no cancellation of this show');
      if (/workflow execution already completed|update was aborted/i.test(String((err as Error).message))) {
        throw new DomainError('NOT_FOUND', 'the show’s cancellation has finished: there is no rate to change');
      }
      throw err;
    }
  }
}

/** A workflow that failed with one of our codes becomes that DomainError; anything else is left as it is. */
function refusalOf(err: unknown): unknown {
  if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure && isErrorCode(err.cause.type)) {
    return new DomainError(err.cause.type, err.cause.message);
  }
  return err;
}
