import { Client, type Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type Redis from 'ioredis';
import type { DataSource } from 'typeorm';
import { createActivities } from '../activities';
import type { Config } from '../lib/config';
import { defineQueueScripts } from '../queue/scripts';
import { metricsInterceptor, type WorkerMetrics } from './metrics';

export interface WorkerDeps {
  config: Config;
  db: DataSource;
  redis: Redis;
  /** The worker's own connection (native) and a client for the activities that start workflows. */
  connection: NativeConnection;
  clientConnection: Connection;
  /** Optional: the worker's Prometheus metrics (`createWorkerMetrics()`), fed by an activity interceptor. */
  metrics?: WorkerMetrics;
}

/** The one worker shape, for `worker/main.ts` and for tests: every workflow, every activity, one queue. */
export async function createWorker(deps: WorkerDeps, options: Partial<WorkerOptions> = {}): Promise<Worker> {
  const { config } = deps;
  const temporal = new Client({ connection: deps.clientConnection, namespace: config.TEMPORAL_NAMESPACE });
  const activities = createActivities({
    db: deps.db,
    redis: defineQueueScripts(deps.redis),
    temporal,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    journey: { holdTtlSeconds: config.HOLD_TTL_SECONDS, holdGraceSeconds: config.HOLD_GRACE_SECONDS, maxHolds: config.MAX_HOLDS_PER_FAN },
  });
  return Worker.create({
    connection: deps.connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities,
    // On SIGTERM the worker stops polling and lets in-flight tasks finish (a rolling restart loses nothing).
    shutdownGraceTime: '10s',
    ...(options.workflowBundle ? {} : { workflowsPath: require.resolve('../workflows') }),
    ...options,
    interceptors: {
      ...options.interceptors,
      // Domain events (holds, payments, admissions, queue gauges) counted from the activities' inputs
      // and results, local activities included: the activities themselves know nothing of metrics.
      activity: [...(deps.metrics ? [metricsInterceptor(deps.metrics)] : []), ...(options.interceptors?.activity ?? [])],
    },
  });
}
