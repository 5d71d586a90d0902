import type { Client } from '@temporalio/client';
import type { RedisClient as Redis } from '../lib/redis';
import type { DataSource } from 'typeorm';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { QueueTicket } from '../queue/waiting-room';
import type { Metrics } from './metrics';
import type { ActionCount } from './rate-limit';
import type { UseCases } from './use-cases';

/** Everything the API needs, built once by the server (or a test) and handed to `createApp`. */
export interface AppDeps {
  config: Config;
  db: DataSource;
  redis: Redis;
  temporal: Client;
  logger: Logger;
  metrics: Metrics;
  /** When tracing is on (lib/tracing.ts): a server span per request, parent of its Temporal calls' spans. */
  tracing?: boolean;
  /** The clock (epoch ms) that ages the seat-map snapshots; tests inject one. Default `Date.now`. */
  clock?: () => number;
}

/** What the routes get: the app's dependencies and the use cases built once from them (`createApp`). */
export interface RouteDeps extends AppDeps {
  useCases: UseCases;
}

/** Hono context variables set by the middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    userId: string;
    ticket: QueueTicket;
    /** The request's count against its action's limit, for the handler to take (`ActionLimit.handedToHandler`). */
    actionCount: ActionCount;
  };
}
