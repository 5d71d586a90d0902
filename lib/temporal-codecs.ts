import { temporal } from '@temporalio/proto';
import type { Service, Type } from 'protobufjs';

/** The WorkflowService calls the API makes: holds (update-with-start), payments, cancellations, queue settings. */
export const API_TEMPORAL_CALLS = ['ExecuteMultiOperation', 'UpdateWorkflowExecution', 'PollWorkflowExecutionUpdate', 'SignalWithStartWorkflowExecution'] as const;

/**
 * Builds now, at start, the encoders and decoders of every message type `calls` send and receive.
 * protobufjs otherwise generates them (with `new Function`) the first time a type is encoded or
 * decoded: in the bench's contested-seat burst that was ~10 % of the winner's API process (its first
 * hold, ~500 requests in flight beside it), and after a deploy it lands on the first fans' holds.
 * Returns the number of message types set up.
 */
export function primeTemporalCodecs(calls: readonly string[] = API_TEMPORAL_CALLS): number {
  const service = temporal.api.workflowservice.v1.WorkflowService as unknown as Service;
  const seen = new Set<Type>();
  const visit = (type: Type): void => {
    if (seen.has(type)) return;
    seen.add(type);
    type.setup();
    for (const field of type.fieldsArray) {
      const resolved = field.resolve().resolvedType;
      if (resolved && 'fieldsArray' in resolved) visit(resolved);
    }
  };
  for (const call of calls) {
    const method = service.methods[call];
    if (!method) throw new Error(`no WorkflowService call ${call}`);
    method.resolve();
    visit(method.resolvedRequestType!);
    visit(method.resolvedResponseType!);
  }
  return seen.size;
}
