import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal as proto } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { admissionWorkflowId, type AdmissionInput } from '../../workflows/definitions';
import { eventually } from './eventually';
import { WORKFLOW_BUNDLE_PATH } from './paths';
import type { Stack } from './stack';

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

/** The recorded histories every later version of the workflow code must replay (test/e2e/replay.test.ts). */
export const HISTORY_FIXTURES = join(__dirname, '..', 'fixtures');

/**
 * Saves a history as the fixture `<name><RECORD_HISTORIES_SUFFIX>.json` (`-v2` and on: a later code
 * version's recording beside the earlier ones), once the code that recorded it replays it: a
 * recording that does not replay now never will.
 */
export async function saveHistoryFixture(name: string, workflowId: string, history: proto.api.history.v1.IHistory): Promise<void> {
  await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, history, workflowId);
  writeFileSync(join(HISTORY_FIXTURES, `${name}${process.env.RECORD_HISTORIES_SUFFIX ?? ''}.json`), historyToJSON(history));
}

/**
 * Replaces a concert's admission controller (500 ticks a run) with one that continues as new after
 * 30 ticks, so that a recording holds a whole run. Fans admitted stay active for ten minutes.
 */
export async function startShortRunController(
  { temporal, config }: Stack,
  concertId: string,
  { settings, tickMs }: Pick<AdmissionInput, 'settings' | 'tickMs'>,
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const workflowId = admissionWorkflowId(concertId);
  await temporal.workflow.getHandle(workflowId).terminate('replaced by a short-run controller for the recording');
  const input: AdmissionInput = { concertId, settings, activeTtlSeconds: 600, tickMs, ticksPerRun: 30 };
  return temporal.workflow.start('admissionController', { workflowId, taskQueue: config.TEMPORAL_TASK_QUEUE, args: [input] });
}

/** Saves the short-run controller's first run, once it continued as new, as the fixture `name`; then ends the controller. */
export async function saveFirstRun(temporal: Client, controller: WorkflowHandleWithFirstExecutionRunId, name: string): Promise<void> {
  const firstRun = temporal.workflow.getHandle(controller.workflowId, controller.firstExecutionRunId);
  await eventually(async () => {
    const { status } = await firstRun.describe();
    if (status.name !== 'CONTINUED_AS_NEW') throw new Error(`the controller's first run is ${status.name}, not continued as new yet`);
  }, { timeoutMs: 30_000 });
  await saveHistoryFixture(name, controller.workflowId, await firstRun.fetchHistory());
  await controller.terminate('recorded');
}
