import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { eventually } from './eventually';
import { WORKFLOW_BUNDLE_PATH } from './paths';
import { quietTemporalRuntime } from './stack';

/**
 * Replays the histories of a concert's fan journeys (all `expected` of them, once visibility lists
 * them) with the current workflow code and returns the ones that do not replay. A journey whose
 * history does not replay is stuck the moment a worker must rebuild it: after a crash, a restart or
 * an eviction from its cache.
 */
export async function journeysThatDoNotReplay(temporal: Client, concertId: string, expected: number): Promise<string[]> {
  quietTemporalRuntime();
  const query = `ConcertId = '${concertId}' AND WorkflowType = 'fanJourney'`;
  await eventually(async () => {
    const { count: listed } = await temporal.workflow.count(query);
    if (listed < expected) throw new Error(`${listed} of ${expected} journeys listed so far`);
  });
  const failed: string[] = [];
  const results = Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, temporal.workflow.list({ query }).intoHistories());
  for await (const { workflowId, error } of results) if (error) failed.push(`${workflowId}: ${error.message}`);
  return failed;
}
