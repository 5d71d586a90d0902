import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { AFTER_SALE_SEARCH_ATTRIBUTE_TYPES, SEARCH_ATTRIBUTE_TYPES } from '../../workflows/definitions';
import { WORKFLOW_BUNDLE_PATH, timeSkippingExecutable } from './paths';
import { quietTemporalRuntime } from './stack';

const INDEXED_VALUE_TYPES: Record<string, number> = { Keyword: 2, Int: 3, Double: 4, Datetime: 6, KeywordList: 7 };

/**
 * One time-skipping test server per test file (the Java one `provision.sh --test` installs), with
 * the journey's search attributes registered as on the dev server.
 */
export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietTemporalRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: timeSkippingExecutable() } });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(Object.entries({ ...SEARCH_ATTRIBUTE_TYPES, ...AFTER_SALE_SEARCH_ATTRIBUTE_TYPES }).map(([name, type]) => [name, INDEXED_VALUE_TYPES[type]])),
  });
  return env;
}

/** A worker on a fresh task queue running the real workflows with the given activities. */
export async function workflowWorker(env: TestWorkflowEnvironment, activities: object, taskQueue = `wf-${randomUUID()}`, options: Partial<WorkerOptions> = {}) {
  const worker = await Worker.create({
    ...options,
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH },
    activities,
  });
  return { worker, taskQueue };
}
