import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { RedisCluster } from '../../scripts/redis-cluster';
import type { TemporalServer } from '../../scripts/temporal-server';

export default async function globalTeardown(): Promise<void> {
  const shared = globalThis as { __temporalEnv?: TestWorkflowEnvironment; __temporalServer?: TemporalServer; __redisCluster?: RedisCluster };
  await shared.__temporalEnv?.teardown();
  await shared.__temporalServer?.stop();
  await shared.__redisCluster?.stop();
}
