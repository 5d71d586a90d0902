import type { Client } from '@temporalio/client';

/**
 * A journey's history as the steps a person reads in the Web UI: updates by name, activities and
 * local activities by type, in order (e.g. `update:hold`, `holdSeat`, `releaseHold`).
 */
export async function journeyStory(temporal: Client, workflowId: string): Promise<string[]> {
  const history = await temporal.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).flatMap((event) => {
    const update = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name;
    if (update) return [`update:${update}`];
    const activity = event.activityTaskScheduledEventAttributes?.activityType?.name;
    if (activity) return [activity];
    const marker = event.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
    if (marker) return [String(JSON.parse(Buffer.from(marker).toString('utf8')).activity_type)];
    return [];
  });
}
