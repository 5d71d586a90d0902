import { TestWorkflowEnvironment } from '@temporalio/testing';
import { quietTemporalRuntime } from './stack';

/**
 * The run's Temporal dev server (started once by test/support/global-setup.ts, `TEMPORAL_ADDRESS`) as
 * a workflow test environment: real time, real matching and real timers. For workflow tests that send
 * updates: the Java time-skipping server can lose an update that lands while a run continues as new
 * (sdk-java#1903 and kin: `executeUpdate` never returns). Tests on it need a task queue and workflow
 * ids of their own (`workflowWorker` gives a fresh queue), since the whole run shares the server.
 * Its teardown closes the connections only: the server belongs to the run.
 */
export async function devServerEnv(): Promise<TestWorkflowEnvironment> {
  quietTemporalRuntime();
  return TestWorkflowEnvironment.createFromExistingServer({ address: process.env.TEMPORAL_ADDRESS });
}
