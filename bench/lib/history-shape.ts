/**
 * Where an operation's Temporal time goes: a sample of workflow histories read after a scenario,
 * counted per operation (history events, workflow tasks, activities, local activities, timers,
 * search-attribute upserts), so a product path sits next to its raw shape in the report and a
 * regression (one more task, one more timer per hold) shows as a number.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const { EventType } = temporal.api.enums.v1;

export interface HistoryShape {
  /** Histories read. */
  sampled: number;
  /** Operations found in them (updates of the given name, or the workflows themselves). */
  operations: number;
  perOperation: { events: number; workflowTasks: number; activities: number; localActivities: number; timers: number; upserts: number };
}

/**
 * Reads up to `sample` histories and divides their counts by the operations in them: the updates
 * named `update` (hold, pay; every update if '*'), or one per workflow when `update` is undefined
 * (an expiry: the whole journey is the operation).
 */
export async function historyShape(client: Client, workflowIds: string[], update?: string, sample = 20): Promise<HistoryShape | undefined> {
  const ids = [...new Set(workflowIds)].slice(0, sample);
  const totals = { events: 0, workflowTasks: 0, activities: 0, localActivities: 0, timers: 0, upserts: 0 };
  let operations = 0;
  for (const id of ids) {
    const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
    totals.events += events.length;
    for (const e of events) {
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) totals.workflowTasks++;
      else if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) totals.activities++;
      else if (e.eventType === EventType.EVENT_TYPE_MARKER_RECORDED && e.markerRecordedEventAttributes?.markerName === 'core_local_activity') totals.localActivities++;
      else if (e.eventType === EventType.EVENT_TYPE_TIMER_STARTED) totals.timers++;
      else if (e.eventType === EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES) totals.upserts++;
      const name = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name;
      if (update !== undefined && name && (update === '*' || name === update)) operations++;
    }
  }
  if (update === undefined) operations = ids.length;
  if (!operations) return undefined;
  const per = (n: number) => Math.round((n / operations) * 10) / 10;
  return {
    sampled: ids.length,
    operations,
    perOperation: {
      events: per(totals.events), workflowTasks: per(totals.workflowTasks), activities: per(totals.activities),
      localActivities: per(totals.localActivities), timers: per(totals.timers), upserts: per(totals.upserts),
    },
  };
}

/** One line for a measurement's notes. */
export function describeShape(label: string, shape: HistoryShape | undefined): string {
  if (!shape) return `${label}: no history sampled`;
  const p = shape.perOperation;
  return `${label} per operation (${shape.operations} in ${shape.sampled} histories): ${p.events} history events, ${p.workflowTasks} workflow tasks, ${p.activities} activities, ${p.localActivities} local activities, ${p.timers} timers, ${p.upserts} search-attribute upserts`;
}
