import { getHeapStatistics } from 'node:v8';
import { Client, type Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { RedisClient } from '../lib/redis';
import type { DataSource } from 'typeorm';
import { createActivities } from '../activities';
import type { Config } from '../lib/config';
import { journeySettings } from '../lib/journeys';
import { defineQueueScripts } from '../queue/scripts';
import type { Tracing } from '../lib/tracing';
import { metricsInterceptor, type WorkerMetrics } from './metrics';
import { requestContextInterceptor, WORKFLOW_INTERCEPTOR_MODULES } from './request-context';

export interface WorkerDeps {
  config: Config;
  db: DataSource;
  redis: RedisClient;
  /** The worker's own connection (native) and a client for the activities that start workflows. */
  connection: NativeConnection;
  clientConnection: Connection;
  /** Optional: the worker's Prometheus metrics (`createWorkerMetrics()`), fed by an activity interceptor. */
  metrics?: WorkerMetrics;
  /** Optional: OpenTelemetry tracing (lib/tracing.ts) for the worker and the journeys its activities start. */
  tracing?: Tracing;
}

/**
 * How many workflows the worker keeps in memory between their tasks: 2,000 per GiB of heap (about
 * 7,700 on this box's default 4 GiB). A workflow not cached is replayed from its whole history on its next
 * task. The SDK's default, 600 per GiB, budgets ~1.7 MB a workflow; a journey takes ~0.15 MB
 * (the worker's RSS went from 1.18 GB to 1.55 GB for ~2,700 more cached), so this leaves over 3×
 * room. With the SDK's ~2,300, a mass expiry of 2,500 journeys (the worker also holds the journeys
 * of the fans still shopping) replayed evicted journeys over and over: 60 journeys/s and 12.3 ms of
 * worker CPU each, against 91/s and 6.6 ms with room for all (bench/README.md).
 */
export function cachedJourneys(heapMiB = getHeapStatistics().heap_size_limit / 2 ** 20): number {
  return Math.max(10, Math.floor(((heapMiB - 200) * 2000) / 1024));
}

/** The one worker shape, for `worker/main.ts` and for tests: every workflow, every activity, one queue. */
export async function createWorker(deps: WorkerDeps, options: Partial<WorkerOptions> = {}): Promise<Worker> {
  const { config } = deps;
  const plugins = deps.tracing ? [deps.tracing.plugin] : [];
  const temporal = new Client({ connection: deps.clientConnection, namespace: config.TEMPORAL_NAMESPACE, plugins });
  // Admitted fans' journeys are started on the worker's own connection, the one eager workflow
  // start needs: with a free workflow-task slot here, the start's answer carries the journey's
  // first task and this worker runs it at once, instead of the server queueing it in matching for
  // a poll (one persistence write and a hand-off fewer per admitted fan).
  const journeyStarter = new Client({ connection: deps.connection, namespace: config.TEMPORAL_NAMESPACE, plugins });
  const activities = createActivities({
    db: deps.db,
    redis: defineQueueScripts(deps.redis),
    temporal,
    journeyStarter,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    journey: journeySettings(config),
  });
  // The workflow threads read the switch when they start (patches/@temporalio+worker*.patch): the
  // environment is the only channel into them, and each Worker starts threads of its own.
  process.env.OVATION_WORKFLOW_STACK_TRACES = config.WORKFLOW_STACK_TRACES ? 'on' : 'off';
  return Worker.create({
    connection: deps.connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities,
    // On SIGTERM the worker stops polling and lets in-flight tasks finish (a rolling restart loses nothing).
    shutdownGraceTime: '10s',
    // A journey cached on a worker that went away (rolling restart, crash) moves to another after 5 s
    // instead of the default 10 s, so a hold sent meanwhile answers within the API's 10 s deadline
    // (test/e2e/scale-out.test.ts: with 10 s those holds answered 503). Not shorter: a busy worker's
    // sticky tasks that wait longer are replayed from full history elsewhere, which a mass expiry
    // would pay for many times over.
    stickyQueueScheduleToStartTimeout: '5s',
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS ?? cachedJourneys(),
    // The rest are the SDK's (1.24) defaults until a bench A/B shows a change pays: one workflow
    // thread (WORKER_WORKFLOW_THREADS; two measured on 2 cores, no consistent gain: bench/README.md),
    // 40 workflow-task slots (an eager journey start of the admission tick, 16 at once, holds one
    // until the journey's first task is done; with none free the start is an ordinary one), 100
    // activity and 100 local-activity slots, and up to 3 eager activity reservations per workflow
    // task (taken only where the server allows eager activities).
    ...(config.WORKER_WORKFLOW_THREADS && { workflowThreadPoolSize: config.WORKER_WORKFLOW_THREADS }),
    ...(options.workflowBundle ? {} : { workflowsPath: require.resolve('../workflows') }),
    plugins,
    ...options,
    interceptors: {
      ...options.interceptors,
      // A prebuilt bundle has them inside already (test/support/global-setup.ts).
      ...(options.workflowBundle ? {} : { workflowModules: [...WORKFLOW_INTERCEPTOR_MODULES, ...(options.interceptors?.workflowModules ?? [])] }),
      activity: [
        requestContextInterceptor,
        // Domain events (holds, payments, admissions, queue gauges) counted from the activities' inputs
        // and results, local activities included: the activities themselves know nothing of metrics.
        ...(deps.metrics ? [metricsInterceptor(deps.metrics)] : []),
        ...(options.interceptors?.activity ?? []),
      ],
    },
  });
}
